#!/usr/bin/env bash
# Compile a pipeline's LaTeX report with pdflatex and render its pages to PNG for a visual check.
#
#   tools/render_latex.sh [reports/demo]     # writes target/latex/<name>/report.pdf and page-N.png
#
# Installs pdflatex (TeX Live: base + recommended, for booktabs and geometry) and pdftoppm (poppler)
# with apt-get when they are missing. The test tests/report.rs compiles the same file when pdflatex is
# installed.
set -euo pipefail
cd "$(dirname "$0")/.."
report_dir="${1:-reports/demo}"
name="$(basename "$report_dir")"

if ! command -v pdflatex >/dev/null || ! command -v pdftoppm >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    texlive-latex-base texlive-latex-recommended poppler-utils >/dev/null
fi

out="target/latex/$name"
mkdir -p "$out"
cp "$report_dir/report.tex" "$out/"
( cd "$out" && pdflatex -interaction=nonstopmode -halt-on-error report.tex >/dev/null \
  && pdflatex -interaction=nonstopmode -halt-on-error report.tex >/dev/null )
rm -f "$out"/page-*.png
pdftoppm -png -r 80 "$out/report.pdf" "$out/page"
echo "wrote $out/report.pdf and $(ls "$out"/page-*.png | wc -l) page(s) as $out/page-N.png"
