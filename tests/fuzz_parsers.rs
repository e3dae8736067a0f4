//! Fuzzed parsers: every reader of a label, metadata or audio file gets the synthesiser's real files
//! with random damage, and must never panic. It either reads the damaged file, reporting what it could
//! not use as faults that name a file or an utterance (and listing no utterance id twice), or refuses it
//! with a one-line error that names the file (or the corpus folder). `ingest` makes that promise for a corpus that was downloaded
//! half-way, saved by a spreadsheet in another encoding, or edited by hand.
//!
//! The damage is what files meet in practice: flipped bytes, a file cut short, lines inserted, deleted
//! or duplicated, a stray quote or separator, Latin-1 bytes in UTF-8 text, a file re-saved as UTF-16,
//! other line ends. For audio, it is damaged header fields (chunk sizes, rates, bit depths), bytes
//! inserted or removed, and truncation. Text damage lands more often at the head of a file and at token
//! boundaries, where a parser makes its decisions, and audio damage mostly in the first bytes (the
//! headers). A separate test builds WAV headers field by field, because mutations of the synthesiser's
//! plain PCM files never reach the WAVE_FORMAT_EXTENSIBLE paths. File names (RAVDESS, EmoDB, CREMA-D)
//! and IEMOCAP utterance ids are fuzzed as strings, both arbitrary and as edited real names. One edit
//! keeps the byte length but moves character boundaries: a parser that checks a length in bytes and
//! then slices must not cut a multi-byte character in half.
//!
//! The corpora are synthesised once per run (`synth_all`, 3 actors), under Cargo's target tmp folder.
//! Each test works on its own copy, with label files copied and audio hard-linked, and restores every
//! file it damaged after each case. Case counts are the constants below; `PROPTEST_CASES` overrides all
//! of them.

use std::collections::BTreeSet;
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::{TestCaseError, TestRunner};

use sertool::audio::noise::{list_source, NoiseSelect, NoiseSource};
use sertool::audio::{audio_info, read_audio, Format};
use sertool::config::{Corpus, Pipeline};
use sertool::corpus::{self, cremad, emodb, iemocap, ravdess, Scan};
use sertool::engine::fingerprint::Fingerprints;

// Case counts. Together the tests should take well under 20 s on two cores in the dev profile (our
// crate at opt-level 1, dependencies at 2). Synthesising the corpora once costs a few seconds of that.
/// A damaged label file and a scan of its corpus (a few ms each), per reader.
const SCAN_CASES: u32 = 128;
/// A renamed audio file and a scan of its corpus (CREMA-D, RAVDESS, EmoDB together).
const RENAME_CASES: u32 = 96;
/// The pure text parsers (EmoEvaluation, CSV) on damaged text (µs each).
const TEXT_CASES: u32 = 1000;
/// Each file-name parser on arbitrary and edited names (µs each).
const NAME_CASES: u32 = 4000;
/// Real WAVs from the synthesiser, damaged, read twice (header, then samples).
const WAV_CASES: u32 = 128;
/// WAV headers built field by field (tiny files).
const WAV_HEADER_CASES: u32 = 512;
/// Each of FLAC, Ogg Vorbis and MP3, damaged, decoded twice.
const COMPRESSED_CASES: u32 = 96;

// ---------------------------------------------------------------------------------------------------
// Running properties

fn config(cases: u32) -> ProptestConfig {
    proptest::test_runner::contextualize_config(ProptestConfig {
        cases,
        // Nothing is written next to the sources: a failure prints its shrunk input instead.
        failure_persistence: None,
        // A failing scan property shrinks through scans of a few ms each: bound it.
        max_shrink_iters: 1024,
        max_shrink_time: 30_000,
        ..ProptestConfig::default()
    })
}

/// Run `test` on `cases` values of `strategy`, and panic with the shrunk failing case if one fails.
fn check<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>) {
    let mut runner = TestRunner::new(config(cases));
    if let Err(failure) = runner.run(&strategy, test) {
        panic!("{failure}\n{runner}");
    }
}

/// Run `f`. A panic fails the case, with `what` and the panic's message.
fn no_panic<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into());
        TestCaseError::fail(format!("{what} panicked: {msg}"))
    })
}

/// An error must be one line and name one of `places` (the file's name, or the corpus folder).
fn check_error(e: &anyhow::Error, places: &[String]) -> Result<(), TestCaseError> {
    let msg = format!("{e:#}");
    prop_assert!(!msg.contains(['\n', '\r']), "the error is not one line: {:?}", clip(&msg));
    prop_assert!(
        places.iter().any(|p| !p.is_empty() && msg.contains(p.as_str())),
        "the error names none of {places:?}: {}",
        clip(&msg)
    );
    Ok(())
}

/// A scan either fails with a good error, or every fault says where it is and no utterance is listed
/// twice.
fn check_scan(outcome: anyhow::Result<Scan>, places: &[String]) -> Result<(), TestCaseError> {
    let scan = match outcome {
        Ok(scan) => scan,
        Err(e) => return check_error(&e, places),
    };
    for f in &scan.faults {
        prop_assert!(
            !f.file.is_empty() || !f.utterance.is_empty(),
            "a fault names neither a file nor an utterance: {f:?}"
        );
    }
    let mut ids = BTreeSet::new();
    for u in &scan.utterances {
        prop_assert!(ids.insert(u.id.as_str()), "utterance id {:?} appears twice in the scan", u.id);
    }
    Ok(())
}

/// A failed case with `context` added (the damaged file), so it can be reproduced by hand.
fn annotate(e: TestCaseError, context: impl FnOnce() -> String) -> TestCaseError {
    match e {
        TestCaseError::Fail(why) => TestCaseError::fail(format!("{}\n  {}", why.message(), context())),
        reject => reject,
    }
}

fn text_context(file: &Path, bytes: &[u8]) -> String {
    format!(
        "file {} as damaged ({} bytes), from the start: {:?}",
        file.display(),
        bytes.len(),
        String::from_utf8_lossy(&bytes[..bytes.len().min(600)])
    )
}

fn binary_context(file: &Path, bytes: &[u8]) -> String {
    format!(
        "file {} as damaged ({} bytes), from the start: {:02x?}",
        file.display(),
        bytes.len(),
        &bytes[..bytes.len().min(96)]
    )
}

fn clip(s: &str) -> String {
    let mut c: String = s.chars().take(300).collect();
    if c.len() < s.len() {
        c.push_str(" …");
    }
    c
}

// ---------------------------------------------------------------------------------------------------
// Damage to text files

/// Bytes that mean something to a parser: quotes (three times: a quote where a CSV field starts swallows
/// lines), separators, line ends, brackets, NUL.
const SPECIAL_BYTES: &[u8] = b"\"\"\",;\t\r\n[]:_-./ \0";
/// A token starts after one of these.
const SEPARATORS: &[u8] = b",;\t\r\n[]:_- ";
/// One character of each UTF-8 width 2, 3 and 4.
const WIDE: [char; 3] = ['é', '€', '😀'];

/// Lines and fragments that mean something to one of the readers.
const SNIPPETS: &[&str] = &[
    "\"",
    "\"\"\"",
    "\"an unterminated, quoted field",
    ",,,,,,,,,,",
    ";",
    "Train; ",
    "; MSP-PODCAST_0001_0001.wav",
    "\t\t\t",
    "[",
    "[]\t\t",
    "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]",
    "[0.0 - 1.0]\tSes01F_impro01_F000",
    "[0.0 - 1.0]\tSes09F_impro01_Q000\tang\t[nan, inf, -1e309]",
    "[0.0 - 1.0]\tSes01F/../../x_F000\tsad\t[1, 2, 3]",
    "Ses01F_impro01_F000 [000.0000-001.0000]: a line for a labelled turn.",
    "]:",
    "path,label,speaker,split,gender",
    "audio/spk0_neutral_0.wav,neutral,spk0,train,f",
    "../outside.wav,happy,spk9,train,m",
    "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set",
    "MSP-PODCAST_0001_0001.wav,N,nan,inf,-0,Unknown,Female,Train",
    "filename,fold,target,category,esc10,src_file,take",
    "1-107-A-0.wav,1,0,dog,False,107,A",
    "1001,51,\"Male\",\"Caucasian\",\"Not Hispanic\"",
    "\"1001_DFA_ANG_XX\",\"A:N\",\"50.00:50.00\"",
    "\u{feff}",
    "\0",
    "\r",
    "é,ß,€,😀",
];

/// Where a mutation lands: in the head of the file (the first three lines, at most 512 bytes: headers)
/// or anywhere, and with `boundary` only where a token starts.
#[derive(Debug, Clone)]
struct Spot {
    head: bool,
    boundary: bool,
    at: Index,
}

impl Spot {
    /// An insertion point, 0..=len.
    fn point(&self, b: &[u8]) -> usize {
        let end = if self.head { text_head(b) } else { b.len() };
        let points: Vec<usize> =
            (0..=end).filter(|&i| !self.boundary || i == 0 || SEPARATORS.contains(&b[i - 1])).collect();
        points[self.at.index(points.len())]
    }

    /// A byte to change (None in an empty file).
    fn byte(&self, b: &[u8]) -> Option<usize> {
        (!b.is_empty()).then(|| self.point(b).min(b.len() - 1))
    }
}

fn text_head(b: &[u8]) -> usize {
    let mut lines = 0;
    for (i, &c) in b.iter().enumerate().take(512) {
        if c == b'\n' {
            lines += 1;
            if lines == 3 {
                return i + 1;
            }
        }
    }
    b.len().min(512)
}

#[derive(Debug, Clone)]
enum Mutation {
    /// XOR one byte with a non-zero mask.
    Flip(Spot, u8),
    /// Insert a byte that means something to a parser.
    InsertByte(Spot, u8),
    /// Replace as many bytes as its width by one multi-byte character: same length, other boundaries.
    Widen(Spot, usize),
    /// Cut the file short.
    Truncate(Spot),
    /// Insert a line (without its '\n') where a line starts.
    InsertLine(Index, Vec<u8>),
    DeleteLine(Index),
    DuplicateLine(Index),
    /// Overwrite a few bytes with Latin-1 ones (0x80–0xFF): text a Windows tool saved.
    Latin1(Spot, Vec<u8>),
    /// The whole file as UTF-16LE, with or without its byte-order mark.
    Utf16 {
        bom: bool,
    },
    /// A UTF-16 byte-order mark in front of UTF-8 text.
    Utf16Bom,
    /// Every '\n' as "\r\n", or as a lone '\r' (old Mac).
    LineEnds {
        lone_cr: bool,
    },
}

impl Mutation {
    fn apply(&self, b: &mut Vec<u8>) {
        match self {
            Mutation::Flip(spot, mask) => {
                if let Some(i) = spot.byte(b.as_slice()) {
                    b[i] ^= *mask;
                }
            }
            Mutation::InsertByte(spot, c) => {
                let i = spot.point(b.as_slice());
                b.insert(i, *c);
            }
            Mutation::Widen(spot, width) => {
                let i = spot.point(b.as_slice());
                let mut buf = [0u8; 4];
                let wide = WIDE[*width - 2].encode_utf8(&mut buf).as_bytes().to_vec();
                let end = (i + *width).min(b.len());
                replace_range(b, i..end, &wide);
            }
            Mutation::Truncate(spot) => {
                let i = spot.point(b.as_slice());
                b.truncate(i);
            }
            Mutation::InsertLine(at, line) => {
                let starts = line_starts(b.as_slice());
                let i = starts[at.index(starts.len())];
                let mut l = line.clone();
                l.push(b'\n');
                replace_range(b, i..i, &l);
            }
            Mutation::DeleteLine(at) => {
                let ls = lines(b.as_slice());
                if !ls.is_empty() {
                    let r = ls[at.index(ls.len())].clone();
                    replace_range(b, r, &[]);
                }
            }
            Mutation::DuplicateLine(at) => {
                let ls = lines(b.as_slice());
                if !ls.is_empty() {
                    let r = ls[at.index(ls.len())].clone();
                    let copy = b[r.clone()].to_vec();
                    replace_range(b, r.start..r.start, &copy);
                }
            }
            Mutation::Latin1(spot, bytes) => {
                let i = spot.point(b.as_slice());
                for (k, &v) in bytes.iter().enumerate() {
                    if i + k < b.len() {
                        b[i + k] = v;
                    } else {
                        b.push(v);
                    }
                }
            }
            Mutation::Utf16 { bom } => {
                let text = String::from_utf8_lossy(b.as_slice()).into_owned();
                let mut out = if *bom { vec![0xFF, 0xFE] } else { Vec::new() };
                out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
                *b = out;
            }
            Mutation::Utf16Bom => replace_range(b, 0..0, &[0xFF, 0xFE]),
            Mutation::LineEnds { lone_cr } => {
                let end: &[u8] = if *lone_cr { b"\r" } else { b"\r\n" };
                let joined = b.split(|&c| c == b'\n').collect::<Vec<_>>().join(end);
                *b = joined;
            }
        }
    }
}

/// `v` with `range` replaced by `with` (`range` within `v`).
fn replace_range<T: Clone>(v: &mut Vec<T>, range: Range<usize>, with: &[T]) {
    let tail = v.split_off(range.end);
    v.truncate(range.start);
    v.extend_from_slice(with);
    v.extend_from_slice(&tail);
}

/// Where lines start, including the point after a final '\n'.
fn line_starts(b: &[u8]) -> Vec<usize> {
    std::iter::once(0).chain((0..b.len()).filter(|&i| b[i] == b'\n').map(|i| i + 1)).collect()
}

/// The lines, each with its '\n'.
fn lines(b: &[u8]) -> Vec<Range<usize>> {
    let starts = line_starts(b);
    let mut out = Vec::new();
    for (k, &start) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(b.len());
        if start < end {
            out.push(start..end);
        }
    }
    out
}

fn spot() -> impl Strategy<Value = Spot> {
    (prop::bool::weighted(0.5), any::<bool>(), any::<Index>()).prop_map(|(head, boundary, at)| Spot {
        head,
        boundary,
        at,
    })
}

fn line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => select(SNIPPETS).prop_map(|s| s.as_bytes().to_vec()),
        3 => "[\t -~]{0,80}".prop_map(String::into_bytes),
        1 => vec(any::<u8>(), 0..80),
        1 => any::<String>().prop_map(String::into_bytes),
        // A line far longer than any real one.
        1 => (1usize..20_000).prop_map(|n| vec![b'7'; n]),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (spot(), 1u8..=255).prop_map(|(s, m)| Mutation::Flip(s, m)),
        2 => (spot(), select(SPECIAL_BYTES)).prop_map(|(s, c)| Mutation::InsertByte(s, c)),
        1 => (spot(), 2usize..=4).prop_map(|(s, w)| Mutation::Widen(s, w)),
        1 => spot().prop_map(Mutation::Truncate),
        3 => (any::<Index>(), line()).prop_map(|(at, l)| Mutation::InsertLine(at, l)),
        1 => any::<Index>().prop_map(Mutation::DeleteLine),
        1 => any::<Index>().prop_map(Mutation::DuplicateLine),
        1 => (spot(), vec(0x80u8..=0xFF, 1..=4)).prop_map(|(s, v)| Mutation::Latin1(s, v)),
        1 => any::<bool>().prop_map(|bom| Mutation::Utf16 { bom }),
        1 => Just(Mutation::Utf16Bom),
        1 => any::<bool>().prop_map(|lone_cr| Mutation::LineEnds { lone_cr }),
    ]
}

/// One to three mutations, applied in order.
fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    vec(mutation(), 1..=3)
}

fn mangle(original: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut b = original.to_vec();
    for m in mutations {
        m.apply(&mut b);
    }
    b
}

/// Text the way the readers take it: UTF-8, or where it is not, Latin-1.
fn as_text(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_string(),
        Err(_) => b.iter().map(|&c| c as char).collect(),
    }
}

// ---------------------------------------------------------------------------------------------------
// The synthesised corpora and private copies of them

/// The synthesised corpora (seed 7, 3 actors per CREMA-D-layout corpus), written once per run. Tests
/// only read them. They damage their own copies.
fn synth() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz_parsers_synth");
        let _ = std::fs::remove_dir_all(&dir);
        sertool::corpus::synth::synth_all(&dir, 7, 3).expect("synthesising the corpora");
        dir
    })
}

/// A private copy of some folders of the synthesised data: label and metadata files are copied (they
/// are damaged in place), audio files hard-linked (never written through).
fn copy_of(folders: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a temporary folder");
    for f in folders {
        copy_tree(&synth().join(f), &dir.path().join(f));
    }
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.expect("a folder entry");
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().expect("a file type").is_dir() {
            copy_tree(&src, &dst);
        } else if Format::of(&src).is_none() || std::fs::hard_link(&src, &dst).is_err() {
            std::fs::copy(&src, &dst).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        }
    }
}

/// An empty fingerprint memo, kept for one test (so audio is hashed once, not once per case).
fn memo(dir: &Path) -> Fingerprints {
    Fingerprints::load(&dir.join("fingerprints.tsv")).expect("an empty fingerprint memo")
}

/// The reader of `kind` for the corpus at `root`, as `sertool ingest --kind` builds it.
fn reader(kind: &str, root: &Path) -> Corpus {
    let p = Pipeline::single_corpus(kind, root, "fuzz", false).expect("a one-corpus pipeline");
    p.corpora["fuzz"].clone()
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The files directly in `dir` whose names end in `ext`, without macOS `._` litter, sorted.
fn files_in(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a folder entry").path())
        .filter(|p| {
            let n = file_name(p);
            p.is_file() && n.ends_with(ext) && !n.starts_with("._")
        })
        .collect();
    files.sort();
    files
}

const IEMOCAP: &str = "iemocap/IEMOCAP_full_release";

/// IEMOCAP's `Session{1..5}/dialog/<sub>/*.txt`.
fn iemocap_files(root: &Path, sub: &str) -> Vec<PathBuf> {
    (1..=5).flat_map(|n| files_in(&root.join(format!("Session{n}/dialog/{sub}")), ".txt")).collect()
}

/// A label or metadata file, its bytes as synthesised, and the reader that reads it.
struct Target {
    corpus: Corpus,
    file: PathBuf,
    original: Vec<u8>,
}

impl Target {
    fn new(corpus: &Corpus, file: PathBuf) -> Target {
        let original = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        Target { corpus: corpus.clone(), file, original }
    }

    /// What an error about this file may name: the file, or the corpus folder.
    fn places(&self) -> Vec<String> {
        vec![file_name(&self.file), self.corpus.root.display().to_string()]
    }
}

/// `file` holds damaged bytes until this is dropped. Then it gets its synthesised bytes back, also
/// when the case failed, so every case starts from the real file.
struct Damaged<'a> {
    file: &'a Path,
    original: &'a [u8],
}

impl<'a> Damaged<'a> {
    fn write(file: &'a Path, original: &'a [u8], bytes: &[u8]) -> Result<Damaged<'a>, TestCaseError> {
        let guard = Damaged { file, original };
        std::fs::write(file, bytes).map_err(|e| TestCaseError::fail(format!("writing {}: {e}", file.display())))?;
        Ok(guard)
    }
}

impl Drop for Damaged<'_> {
    fn drop(&mut self) {
        if let Err(e) = std::fs::write(self.file, self.original) {
            if !std::thread::panicking() {
                panic!("restoring {}: {e}", self.file.display());
            }
        }
    }
}

/// Per case, damage one of `targets` and scan its corpus.
fn fuzz_scans(targets: &[Target], fp: &Fingerprints, cases: u32) {
    assert!(!targets.is_empty(), "no label files to damage");
    check(cases, (0..targets.len(), mutations()), |(i, muts)| {
        let t = &targets[i];
        let bytes = mangle(&t.original, &muts);
        let _restore = Damaged::write(&t.file, &t.original, &bytes)?;
        let outcome = no_panic("scan", || corpus::scan(&t.corpus, fp)).and_then(|r| check_scan(r, &t.places()));
        outcome.map_err(|e| annotate(e, || text_context(&t.file, &bytes)))
    });
}

// ---------------------------------------------------------------------------------------------------
// Label and metadata files, through the corpus readers

#[test]
fn iemocap_emoevaluation_files_never_panic_a_scan_when_damaged() {
    let dir = copy_of(&[IEMOCAP]);
    let root = dir.path().join(IEMOCAP);
    let corpus = reader("iemocap", &root);
    let targets: Vec<Target> =
        iemocap_files(&root, "EmoEvaluation").into_iter().map(|f| Target::new(&corpus, f)).collect();
    fuzz_scans(&targets, &memo(dir.path()), SCAN_CASES);
}

#[test]
fn iemocap_transcripts_never_panic_a_scan_when_damaged() {
    let dir = copy_of(&[IEMOCAP]);
    let root = dir.path().join(IEMOCAP);
    let corpus = reader("iemocap", &root);
    let targets: Vec<Target> =
        iemocap_files(&root, "transcriptions").into_iter().map(|f| Target::new(&corpus, f)).collect();
    fuzz_scans(&targets, &memo(dir.path()), SCAN_CASES);
}

/// VideoDemographics.csv with acted labels and with perceived ones, and processedResults/summaryTable.csv
/// (read with `label_source = "voice_vote"`).
#[test]
fn cremad_demographics_and_vote_table_never_panic_a_scan_when_damaged() {
    let dir = copy_of(&["cremad_a"]);
    let root = dir.path().join("cremad_a");
    let acted = reader("cremad", &root);
    let mut voted = acted.clone();
    voted.label_source = "voice_vote".into();
    let targets = vec![
        Target::new(&acted, root.join("VideoDemographics.csv")),
        Target::new(&voted, root.join("VideoDemographics.csv")),
        Target::new(&voted, root.join("processedResults/summaryTable.csv")),
    ];
    fuzz_scans(&targets, &memo(dir.path()), SCAN_CASES);
}

/// labels_consensus.csv (with Split_Set) and the legacy labels_concensus.csv (without).
#[test]
fn msp_podcast_label_csvs_never_panic_a_scan_when_damaged() {
    let dir = copy_of(&["msp_podcast", "msp_podcast_legacy"]);
    let (current, legacy) = (dir.path().join("msp_podcast"), dir.path().join("msp_podcast_legacy"));
    let targets = vec![
        Target::new(&reader("msp_podcast", &current), current.join("Labels/labels_consensus.csv")),
        Target::new(&reader("msp_podcast", &legacy), legacy.join("Labels/labels_concensus.csv")),
    ];
    fuzz_scans(&targets, &memo(dir.path()), SCAN_CASES);
}

/// Partitions.txt (a fallback next to Split_Set) and the legacy Partition.txt (the only split there).
#[test]
fn msp_podcast_partition_files_never_panic_a_scan_when_damaged() {
    let dir = copy_of(&["msp_podcast", "msp_podcast_legacy"]);
    let (current, legacy) = (dir.path().join("msp_podcast"), dir.path().join("msp_podcast_legacy"));
    let targets = vec![
        Target::new(&reader("msp_podcast", &current), current.join("Partitions.txt")),
        Target::new(&reader("msp_podcast", &legacy), legacy.join("Partition.txt")),
    ];
    fuzz_scans(&targets, &memo(dir.path()), SCAN_CASES);
}

/// manifest.csv, split by its column (the default) and by speaker (so a header without `split` is read
/// on instead of refused).
#[test]
fn generic_csv_manifest_never_panics_a_scan_when_damaged() {
    let dir = copy_of(&["generic_csv"]);
    let root = dir.path().join("generic_csv");
    let by_column = reader("csv", &root);
    let mut by_speaker = by_column.clone();
    by_speaker.split.method = Some("speakers".into());
    let targets =
        vec![Target::new(&by_column, root.join("manifest.csv")), Target::new(&by_speaker, root.join("manifest.csv"))];
    fuzz_scans(&targets, &memo(dir.path()), SCAN_CASES);
}

/// ESC-50's meta/esc50.csv, listed for every category and for two of them.
#[test]
fn esc50_meta_never_panics_the_noise_lister_when_damaged() {
    let dir = copy_of(&["esc50"]);
    let root = dir.path().join("esc50");
    let meta = root.join("meta/esc50.csv");
    let original = std::fs::read(&meta).expect("esc50.csv");
    let some = NoiseSelect { categories: Some(vec!["dog".into(), "rain".into()]), ..NoiseSelect::default() };
    let sources = [NoiseSelect::default(), some].map(|sel| NoiseSource {
        name: "fuzz".into(),
        kind: "esc50".into(),
        root: root.clone(),
        test_fraction: 0.5,
        seed: 1,
        select: sel,
    });
    let places = [file_name(&meta), root.display().to_string()];
    check(SCAN_CASES, (0..sources.len(), mutations()), |(i, muts)| {
        let bytes = mangle(&original, &muts);
        let _restore = Damaged::write(&meta, &original, &bytes)?;
        let outcome = no_panic("list_source", || list_source(&sources[i])).and_then(|r| match r {
            Ok(listed) => {
                prop_assert!(!listed.is_empty(), "an empty noise list instead of an error");
                Ok(())
            }
            Err(e) => check_error(&e, &places),
        });
        outcome.map_err(|e| annotate(e, || text_context(&meta, &bytes)))
    });
}

// ---------------------------------------------------------------------------------------------------
// File names and ids

const CREMAD_NAMES: &[&str] = &["1001_DFA_ANG_XX.wav", "1091_IEO_HAP_HI.wav", "1076_MTI_SAD_XX.mp3"];
const RAVDESS_NAMES: &[&str] = &["03-01-05-01-01-01-01.wav", "03-02-03-02-02-01-12.wav", "03-01-08-02-02-02-24.wav"];
const EMODB_NAMES: &[&str] = &["03a01Fa.wav", "08b02Wb.wav", "16a05Tc.wav"];
const IEMOCAP_IDS: &[&str] = &["Ses01F_impro01_F000", "Ses05M_script01_1b_M012", "Ses03M_impro05a_F001"];

const NAME_PUNCTUATION: &[char] = &['_', '-', '.', ' ', '\t', '/', '\0', '+'];
const MULTIBYTE: &[char] = &['é', 'ß', 'ü', '\u{301}', '€', '中', '\u{feff}', '😀'];

#[derive(Debug, Clone)]
enum NameEdit {
    Replace(Index, char),
    Insert(Index, char),
    Delete(Index),
    /// As many characters as the width replaced by one character of that many bytes.
    Widen(Index, usize),
}

fn name_char() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::char::range('0', '9'),
        prop::char::range('A', 'Z'),
        prop::char::range('a', 'z'),
        select(NAME_PUNCTUATION),
        select(MULTIBYTE),
    ]
}

fn name_edit() -> impl Strategy<Value = NameEdit> {
    prop_oneof![
        (any::<Index>(), name_char()).prop_map(|(at, c)| NameEdit::Replace(at, c)),
        (any::<Index>(), name_char()).prop_map(|(at, c)| NameEdit::Insert(at, c)),
        any::<Index>().prop_map(NameEdit::Delete),
        (any::<Index>(), 2usize..=4).prop_map(|(at, w)| NameEdit::Widen(at, w)),
    ]
}

fn edit_name(name: &str, edits: &[NameEdit]) -> String {
    let mut c: Vec<char> = name.chars().collect();
    for e in edits {
        match e {
            NameEdit::Replace(at, ch) if !c.is_empty() => {
                let i = at.index(c.len());
                c[i] = *ch;
            }
            NameEdit::Insert(at, ch) => {
                let i = at.index(c.len() + 1);
                c.insert(i, *ch);
            }
            NameEdit::Delete(at) if !c.is_empty() => {
                c.remove(at.index(c.len()));
            }
            NameEdit::Widen(at, width) if !c.is_empty() => {
                let i = at.index(c.len());
                let end = (i + *width).min(c.len());
                replace_range(&mut c, i..end, &[WIDE[*width - 2]]);
            }
            _ => {}
        }
    }
    c.into_iter().collect()
}

/// Names to parse: arbitrary strings, name-like ASCII, and real names with one to three edits.
fn names(real: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        1 => any::<String>(),
        1 => "[0-9A-Za-z_.-]{0,24}",
        4 => (select(real), vec(name_edit(), 1..=3)).prop_map(|(n, edits)| edit_name(n, &edits)),
    ]
}

#[test]
fn cremad_file_names_parse_or_are_refused_and_never_panic() {
    check(NAME_CASES, names(CREMAD_NAMES), |name| {
        if let Ok((actor, sentence, emotion, level)) = no_panic("cremad::parse_name", || cremad::parse_name(&name))? {
            let stem = format!("{actor}_{sentence}_{emotion}_{level}");
            prop_assert!(name == format!("{stem}.wav") || name == format!("{stem}.mp3"), "{name:?} accepted as {stem}");
        }
        Ok(())
    });
}

#[test]
fn ravdess_file_names_parse_or_are_refused_and_never_panic() {
    check(NAME_CASES, names(RAVDESS_NAMES), |name| {
        if let Ok((_, emotion, _)) = no_panic("ravdess::parse_name", || ravdess::parse_name(&name))? {
            prop_assert!(name.ends_with(".wav") && name.split('-').count() == 7, "{name:?} accepted");
            prop_assert!(ravdess::EMOTIONS.contains(&emotion), "{name:?} accepted as {emotion}");
        }
        Ok(())
    });
}

#[test]
fn emodb_file_names_parse_or_are_refused_and_never_panic() {
    check(NAME_CASES, names(EMODB_NAMES), |name| {
        if let Ok((speaker, letter)) = no_panic("emodb::parse_name", || emodb::parse_name(&name))? {
            prop_assert!(
                name.len() == 11 && name.ends_with(".wav") && name.starts_with(&speaker) && letter.len() == 1,
                "{name:?} accepted as ({speaker}, {letter})"
            );
        }
        Ok(())
    });
}

#[test]
fn iemocap_utterance_ids_parse_or_are_refused_and_never_panic() {
    check(NAME_CASES, names(IEMOCAP_IDS), |id| {
        if let Ok((dialog, session, letter)) = no_panic("iemocap::parse_id", || iemocap::parse_id(&id))? {
            prop_assert!((1..=5).contains(&session), "{id:?} accepted with session {session}");
            prop_assert!(
                id.len() == dialog.len() + 5
                    && id.starts_with(&dialog)
                    && id[dialog.len()..].starts_with(&format!("_{letter}")),
                "{id:?} accepted as ({dialog}, {session}, {letter})"
            );
        }
        Ok(())
    });
}

/// The file-named layouts: (kind, corpus folder, a real audio file, real names to edit).
const LAYOUTS: [(&str, &str, &str, &[&str]); 3] = [
    ("cremad", "cremad_a", "AudioWAV/1001_DFA_ANG_XX.wav", CREMAD_NAMES),
    ("ravdess", "ravdess", "Actor_01/03-01-05-01-01-01-01.wav", RAVDESS_NAMES),
    ("emodb", "emodb", "wav/03a01Fa.wav", EMODB_NAMES),
];

/// A name the file system takes: no '/' or NUL, not empty, "." or "..", at most 200 bytes.
fn as_file_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().map(|c| if c == '/' || c == '\0' { '_' } else { c }) {
        if out.len() + c.len_utf8() > 200 {
            break;
        }
        out.push(c);
    }
    if out.is_empty() || out == "." || out == ".." {
        out.insert(0, '_');
    }
    out
}

/// `to` is `from` renamed until this is dropped.
struct Renamed<'a> {
    from: &'a Path,
    to: PathBuf,
}

impl<'a> Renamed<'a> {
    /// None where the name is taken or the file system refuses it: nothing to test then.
    fn new(from: &'a Path, to: PathBuf) -> Option<Renamed<'a>> {
        if std::fs::symlink_metadata(&to).is_ok() || std::fs::rename(from, &to).is_err() {
            return None;
        }
        Some(Renamed { from, to })
    }
}

impl Drop for Renamed<'_> {
    fn drop(&mut self) {
        if let Err(e) = std::fs::rename(&self.to, self.from) {
            if !std::thread::panicking() {
                panic!("renaming {} back: {e}", self.to.display());
            }
        }
    }
}

/// The same names as above, now on disk: one audio file renamed, the whole corpus scanned.
#[test]
fn audio_file_names_never_panic_a_scan_when_damaged() {
    let dir = copy_of(&LAYOUTS.map(|l| l.1));
    let fp = memo(dir.path());
    let layouts: Vec<(Corpus, PathBuf)> = LAYOUTS
        .iter()
        .map(|(kind, folder, file, _)| {
            let root = dir.path().join(folder);
            (reader(kind, &root), root.join(file))
        })
        .collect();
    let strategy = (0..LAYOUTS.len()).prop_flat_map(|i| (Just(i), names(LAYOUTS[i].3)));
    check(RENAME_CASES, strategy, |(i, name)| {
        let (layout, file) = &layouts[i];
        let name = as_file_name(&name);
        let Some(_back) = Renamed::new(file, file.with_file_name(&name)) else { return Ok(()) };
        let places = [name.clone(), layout.root.display().to_string()];
        let outcome = no_panic("scan", || corpus::scan(layout, &fp)).and_then(|r| check_scan(r, &places));
        outcome.map_err(|e| annotate(e, || format!("{} renamed to {name:?}", file.display())))
    });
}

// ---------------------------------------------------------------------------------------------------
// The pure text parsers

#[test]
fn emoevaluation_text_never_panics_the_parser() {
    let texts: Vec<Vec<u8>> = iemocap_files(&synth().join(IEMOCAP), "EmoEvaluation")
        .iter()
        .map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect();
    check(TEXT_CASES, (0..texts.len(), mutations()), |(i, muts)| {
        let text = as_text(&mangle(&texts[i], &muts));
        let (turns, bad) = no_panic("parse_evaluation", || iemocap::parse_evaluation(&text))?;
        let n_lines = text.lines().count();
        for (line, _) in &bad {
            prop_assert!((1..=n_lines).contains(line), "malformed line {line} of a {n_lines}-line file");
        }
        for t in &turns {
            prop_assert!(!t.id.contains(['\t', '\n']) && !t.code.contains(['\t', '\n']), "a turn across fields: {t:?}");
        }
        Ok(())
    });
}

/// Every CSV the synthesiser writes, through the one CSV reader they all use.
#[test]
fn csv_text_never_panics_the_parser() {
    let files: Vec<(PathBuf, Vec<u8>)> = [
        "cremad_a/VideoDemographics.csv",
        "cremad_a/processedResults/summaryTable.csv",
        "msp_podcast/Labels/labels_consensus.csv",
        "generic_csv/manifest.csv",
        "esc50/meta/esc50.csv",
    ]
    .iter()
    .map(|rel| {
        let p = synth().join(rel);
        let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        (p, bytes)
    })
    .collect();
    check(TEXT_CASES, (0..files.len(), mutations()), |(i, muts)| {
        let (path, original) = &files[i];
        let text = as_text(&mangle(original, &muts));
        match no_panic("csv::parse", || sertool::util::csv::parse(&text, path))? {
            Ok(_) => Ok(()),
            Err(e) => check_error(&e, &[file_name(path)]),
        }
    });
}

// ---------------------------------------------------------------------------------------------------
// Audio headers

/// Header fields worth writing over a real one: 0, 1, powers of two and their neighbours, the
/// extremes.
#[rustfmt::skip]
const TELLING_U32: &[u32] = &[
    0, 1, 2, 3, 4, 7, 8, 16, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x1_0000, 0x7FFF_FFFF, 0x8000_0000,
    0xFFFF_FFFE, 0xFFFF_FFFF,
];
const WORD_WIDTHS: &[usize] = &[1, 2, 4];

#[derive(Debug, Clone)]
enum ByteMutation {
    /// XOR a byte in the head (the first `head` bytes) or anywhere.
    Flip { head: bool, at: Index, mask: u8 },
    /// Overwrite a little-endian field of the head (aligned to its width) with a telling value.
    Word { at: Index, width: usize, value: u32 },
    /// Cut the file anywhere.
    Truncate(Index),
    /// Insert bytes into the head.
    Insert { at: Index, bytes: Vec<u8> },
    /// Remove bytes from the head.
    Remove { at: Index, len: usize },
}

impl ByteMutation {
    fn apply(&self, b: &mut Vec<u8>, head: usize) {
        let head = head.min(b.len());
        match self {
            ByteMutation::Flip { head: in_head, at, mask } => {
                let n = if *in_head { head } else { b.len() };
                if n > 0 {
                    b[at.index(n)] ^= *mask;
                }
            }
            ByteMutation::Word { at, width, value } => {
                if head >= *width {
                    let i = at.index(head / *width) * *width;
                    b[i..i + *width].copy_from_slice(&value.to_le_bytes()[..*width]);
                }
            }
            ByteMutation::Truncate(at) => {
                let i = at.index(b.len() + 1);
                b.truncate(i);
            }
            ByteMutation::Insert { at, bytes } => {
                let i = at.index(head + 1);
                replace_range(b, i..i, bytes);
            }
            ByteMutation::Remove { at, len } => {
                if head > 0 {
                    let i = at.index(head);
                    let end = (i + *len).min(b.len());
                    replace_range(b, i..end, &[]);
                }
            }
        }
    }
}

fn byte_mutation() -> impl Strategy<Value = ByteMutation> {
    prop_oneof![
        3 => (any::<Index>(), 1u8..=255).prop_map(|(at, mask)| ByteMutation::Flip { head: true, at, mask }),
        1 => (any::<Index>(), 1u8..=255).prop_map(|(at, mask)| ByteMutation::Flip { head: false, at, mask }),
        3 => (any::<Index>(), select(WORD_WIDTHS), select(TELLING_U32))
            .prop_map(|(at, width, value)| ByteMutation::Word { at, width, value }),
        2 => any::<Index>().prop_map(ByteMutation::Truncate),
        1 => (any::<Index>(), vec(any::<u8>(), 1..16)).prop_map(|(at, bytes)| ByteMutation::Insert { at, bytes }),
        1 => (any::<Index>(), 1usize..16).prop_map(|(at, len)| ByteMutation::Remove { at, len }),
    ]
}

/// Read an audio file as the stages do: its header (`audio_info`), then its samples (`read_audio`).
fn read_both(path: &Path) -> Result<(), TestCaseError> {
    let places = [file_name(path)];
    if let Err(e) = no_panic("audio_info", || audio_info(path))? {
        check_error(&e, &places)?;
    }
    if let Err(e) = no_panic("read_audio", || read_audio(path))? {
        check_error(&e, &places)?;
    }
    Ok(())
}

/// Per case, damage one of `files` (mostly in its first `head` bytes), write it under its own name
/// and read it.
fn fuzz_audio(files: &[PathBuf], head: usize, cases: u32) {
    let sources: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|p| (file_name(p), std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))))
        .collect();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a temporary folder");
    check(cases, (0..sources.len(), vec(byte_mutation(), 1..=3)), |(i, muts)| {
        let (name, original) = &sources[i];
        let mut bytes = original.clone();
        for m in &muts {
            m.apply(&mut bytes, head);
        }
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).map_err(|e| TestCaseError::fail(format!("writing {}: {e}", path.display())))?;
        read_both(&path).map_err(|e| annotate(e, || binary_context(&path, &bytes)))
    });
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/audio").join(name)
}

/// 16 kHz mono, 44.1 kHz stereo, and CREMA-D's empty clip (a header and no samples).
#[test]
fn real_wavs_never_panic_a_reader_when_damaged() {
    let s = synth();
    let files = [
        s.join("cremad_a/AudioWAV/1001_IEO_HAP_HI.wav"),
        s.join("msp_podcast/Audios/MSP-PODCAST_0003_0001.wav"),
        s.join("cremad_a/AudioWAV/1003_MTI_SAD_XX.wav"),
    ];
    fuzz_audio(&files, 64, WAV_CASES);
}

/// The libsndfile fixtures and a FLAC from the synthesiser's own encoder.
#[test]
fn flac_files_never_panic_a_reader_when_damaged() {
    let files = [
        fixture("tts_en_22k_mono.flac"),
        fixture("tts_fr_16k_stereo.flac"),
        synth().join("generic_csv/audio/spk0_neutral_1.flac"),
    ];
    fuzz_audio(&files, 256, COMPRESSED_CASES);
}

#[test]
fn ogg_vorbis_files_never_panic_a_reader_when_damaged() {
    fuzz_audio(&[fixture("tts_en_44k_stereo.ogg"), fixture("tts_de_48k_mono.ogg")], 256, COMPRESSED_CASES);
}

#[test]
fn mp3_files_never_panic_a_reader_when_damaged() {
    fuzz_audio(&[fixture("tts_en_44k_stereo.mp3"), fixture("tts_en_48k_mono.mp3")], 256, COMPRESSED_CASES);
}

// WAV headers built field by field: each field is consistent with the others (a readable file) unless
// the strategy picks an odd value for it, so every check in the reader is reached, the
// WAVE_FORMAT_EXTENSIBLE ones included.

const CHANNELS: &[u16] = &[1, 2, 6];
const ODD_CHANNELS: &[u16] = &[0, 255, 0xFFFF];
const RATES: &[u32] = &[8_000, 16_000, 44_100, 48_000];
const ODD_RATES: &[u32] = &[0, 1, 0xFFFF_FFFF];
/// Bytes per sample.
const CONTAINERS: &[u16] = &[1, 2, 3, 4, 8];
const BITS: &[u16] = &[0, 1, 7, 8, 12, 16, 24, 32, 64, 65, 0xFFFF];
/// WAVE_FORMAT_EXTENSIBLE's wValidBitsPerSample (hound takes any non-zero value as the bit depth).
const VALID_BITS: &[u16] = &[0, 8, 12, 16, 20, 24, 32, 64, 65, 128, 0xFFFF];
const FMT_LENS: &[u32] = &[0, 14, 16, 18, 20, 40, 41, 0xFFFF_FFFF];
const CB_SIZES: &[u16] = &[0, 21, 22, 0xFFFF];
const BLOCK_ALIGNS: &[u16] = &[0, 1, 2, 3, 4, 0xFFFF];
/// KSDATAFORMAT_SUBTYPE_PCM; the IEEE float GUID differs in its first byte (3).
const PCM_GUID: [u8; 16] =
    [0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71];

#[derive(Debug, Clone)]
struct WavHeader {
    tag: u16,
    channels: u16,
    rate: u32,
    container: u16,
    float_guid: bool,
    valid_bits: u16,
    frames: u16,
    list_chunk: bool,
    // Odd values; None is the value consistent with the fields above.
    bits: Option<u16>,
    fmt_len: Option<u32>,
    cb_size: Option<u16>,
    byte_rate: Option<u32>,
    block_align: Option<u16>,
    data_len: Option<u32>,
    riff_len: Option<u32>,
    cut: Option<Index>,
}

impl WavHeader {
    fn build(&self) -> Vec<u8> {
        let extensible = self.tag == 0xFFFE;
        let block_align = self.block_align.unwrap_or(self.channels.wrapping_mul(self.container));
        let bits = self.bits.unwrap_or(self.container.wrapping_mul(8));
        let byte_rate = self.byte_rate.unwrap_or((block_align as u32).wrapping_mul(self.rate));
        let mut fmt = Vec::new();
        fmt.extend_from_slice(&self.tag.to_le_bytes());
        fmt.extend_from_slice(&self.channels.to_le_bytes());
        fmt.extend_from_slice(&self.rate.to_le_bytes());
        fmt.extend_from_slice(&byte_rate.to_le_bytes());
        fmt.extend_from_slice(&block_align.to_le_bytes());
        fmt.extend_from_slice(&bits.to_le_bytes());
        if extensible || self.cb_size.is_some() {
            fmt.extend_from_slice(&self.cb_size.unwrap_or(22).to_le_bytes());
        }
        if extensible {
            fmt.extend_from_slice(&self.valid_bits.to_le_bytes());
            fmt.extend_from_slice(&0x3u32.to_le_bytes()); // channel mask
            let mut guid = PCM_GUID;
            if self.float_guid {
                guid[0] = 0x03;
            }
            fmt.extend_from_slice(&guid);
        }
        let fmt_len = self.fmt_len.unwrap_or(fmt.len() as u32);
        let payload: Vec<u8> = (0..(self.frames as usize * block_align as usize).min(4096))
            .map(|i| (i.wrapping_mul(151) >> 3) as u8)
            .collect();
        let data_len = self.data_len.unwrap_or(payload.len() as u32);
        let mut body = b"WAVE".to_vec();
        if self.list_chunk {
            body.extend_from_slice(b"LIST\x04\x00\x00\x00INFO");
        }
        body.extend_from_slice(b"fmt ");
        body.extend_from_slice(&fmt_len.to_le_bytes());
        body.extend_from_slice(&fmt);
        body.extend_from_slice(b"data");
        body.extend_from_slice(&data_len.to_le_bytes());
        body.extend_from_slice(&payload);
        let mut out = b"RIFF".to_vec();
        out.extend_from_slice(&self.riff_len.unwrap_or(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        if let Some(cut) = &self.cut {
            out.truncate(cut.index(out.len() + 1));
        }
        out
    }
}

/// An odd value one time in ten, else None (the consistent value).
fn odd<S: Strategy>(s: S) -> impl Strategy<Value = Option<S::Value>> {
    prop::option::weighted(0.1, s)
}

fn wav_header() -> impl Strategy<Value = WavHeader> {
    let format = (
        prop_oneof![3 => Just(1u16), 2 => Just(3u16), 3 => Just(0xFFFEu16), 1 => any::<u16>()],
        prop_oneof![4 => select(CHANNELS), 1 => select(ODD_CHANNELS)],
        prop_oneof![4 => select(RATES), 1 => select(ODD_RATES)],
        select(CONTAINERS),
        prop::bool::weighted(0.3),
        select(VALID_BITS),
        0u16..64,
        prop::bool::weighted(0.2),
    );
    let odd_fields = (
        odd(select(BITS)),
        odd(select(FMT_LENS)),
        odd(select(CB_SIZES)),
        odd(prop_oneof![select(TELLING_U32), any::<u32>()]),
        odd(select(BLOCK_ALIGNS)),
        odd(prop_oneof![select(TELLING_U32), any::<u32>()]),
        odd(select(TELLING_U32)),
        odd(any::<Index>()),
    );
    (format, odd_fields).prop_map(
        |(
            (tag, channels, rate, container, float_guid, valid_bits, frames, list_chunk),
            (bits, fmt_len, cb_size, byte_rate, block_align, data_len, riff_len, cut),
        )| WavHeader {
            tag,
            channels,
            rate,
            container,
            float_guid,
            valid_bits,
            frames,
            list_chunk,
            bits,
            fmt_len,
            cb_size,
            byte_rate,
            block_align,
            data_len,
            riff_len,
            cut,
        },
    )
}

#[test]
fn wav_headers_built_field_by_field_never_panic_a_reader() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a temporary folder");
    let path = dir.path().join("built.wav");
    check(WAV_HEADER_CASES, wav_header(), |h| {
        let bytes = h.build();
        std::fs::write(&path, &bytes).map_err(|e| TestCaseError::fail(format!("writing {}: {e}", path.display())))?;
        read_both(&path).map_err(|e| annotate(e, || binary_context(&path, &bytes)))
    });
}

// ---------------------------------------------------------------------------------------------------
// Regressions: the crashes these properties found, kept as fixed cases.

/// EmoDB's name check counted bytes, then sliced a multi-byte character in half.
#[test]
fn regression_an_accented_emodb_name_is_refused() {
    assert!(emodb::parse_name("03a01é.wav").is_err());
    assert!(emodb::parse_name("08b02é.wav").is_err());
}

/// hound passes WAVE_FORMAT_EXTENSIBLE's valid-bits field through unchecked: 65-bit samples overflowed
/// the scale shift.
#[test]
fn regression_a_65_bit_extensible_wav_is_a_one_line_error() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a temporary folder");
    let path = dir.path().join("ext65.wav");
    let h = WavHeader {
        tag: 0xFFFE,
        channels: 1,
        rate: 16_000,
        container: 4,
        float_guid: false,
        valid_bits: 65,
        frames: 16,
        list_chunk: false,
        bits: None,
        fmt_len: None,
        cb_size: None,
        byte_rate: None,
        block_align: None,
        data_len: None,
        riff_len: None,
        cut: None,
    };
    std::fs::write(&path, h.build()).unwrap();
    for e in [audio_info(&path).err(), read_audio(&path).err()] {
        let msg = format!("{:#}", e.expect("refused"));
        assert!(msg.contains("ext65.wav") && msg.contains("65 bits") && !msg.contains('\n'), "{msg}");
    }
}
