//! Multiblock partial least squares (MB-PLS), the "MEA" of EDRL-MEA (method.md §3): blocks X_b share one
//! latent space aligned with a response Y. Per component: w = leading eigenvector of XᵀY YᵀX, split into
//! block weights w_b; block scores t_b = X_b w_b/‖w_b‖; block importances a_b = ‖w_b‖²; super score
//! t = Σ a_b t_b; loadings p = Xᵀt/(tᵀt); deflation X ← X − t pᵀ. Fitted on clean source training data;
//! `transform` replays the stored weights and loadings on new rows. Checked against a numpy transcription
//! (tools/mbpls_reference.py, tests/mbpls_reference.rs).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MbPls {
    /// Column count of each block; rows passed in are the blocks concatenated in this order.
    pub block_sizes: Vec<usize>,
    /// Training column means (all blocks concatenated), subtracted before fitting and transforming.
    pub means: Vec<f64>,
    /// Per component: the unit weight vector over all columns (largest-magnitude entry positive).
    pub weights: Vec<Vec<f64>>,
    /// Per component: a_b = ‖w_b‖² for each block (sums to 1).
    pub importance: Vec<Vec<f64>>,
    /// Per component: the loading vector p over all columns.
    pub loadings: Vec<Vec<f64>>,
}

/// Scores of some rows: super scores (rows × K) and block scores (K × blocks × rows).
#[derive(Debug, Clone)]
pub struct Scores {
    pub super_scores: Vec<Vec<f64>>,
    pub block_scores: Vec<Vec<Vec<f64>>>,
}

impl MbPls {
    /// Fit `k` components on rows `x` (blocks concatenated, sizes `block_sizes`) against response rows `y`.
    pub fn fit(x: &[Vec<f64>], block_sizes: &[usize], y: &[Vec<f64>], k: usize) -> anyhow::Result<(MbPls, Scores)> {
        let p: usize = block_sizes.iter().sum();
        anyhow::ensure!(!x.is_empty() && x.len() == y.len(), "MB-PLS needs as many response rows as input rows");
        anyhow::ensure!(x.iter().all(|r| r.len() == p), "MB-PLS rows must have {p} columns (the blocks' total)");
        let means = column_means(x);
        let mut xc: Vec<Vec<f64>> = x.iter().map(|r| r.iter().zip(&means).map(|(v, m)| v - m).collect()).collect();
        let y_means = column_means(y);
        let yc: Vec<Vec<f64>> = y.iter().map(|r| r.iter().zip(&y_means).map(|(v, m)| v - m).collect()).collect();
        let mut model = MbPls {
            block_sizes: block_sizes.to_vec(),
            means,
            weights: Vec::new(),
            importance: Vec::new(),
            loadings: Vec::new(),
        };
        let mut block_scores = Vec::new();
        for _ in 0..k {
            let w = leading_left_singular_vector(&xc, &yc);
            let a: Vec<f64> = model.block_ranges().map(|r| w[r].iter().map(|v| v * v).sum()).collect();
            model.weights.push(w);
            model.importance.push(a);
            let (t, tb) = model.component_scores(model.weights.len() - 1, &xc);
            let tt: f64 = t.iter().map(|v| v * v).sum();
            let load: Vec<f64> = (0..p)
                .map(|j| if tt > 1e-300 { xc.iter().zip(&t).map(|(r, ti)| r[j] * ti).sum::<f64>() / tt } else { 0.0 })
                .collect();
            deflate(&mut xc, &t, &load);
            model.loadings.push(load);
            block_scores.push((t, tb));
        }
        let scores = Scores {
            super_scores: (0..x.len()).map(|i| block_scores.iter().map(|(t, _)| t[i]).collect()).collect(),
            block_scores: block_scores.into_iter().map(|(_, tb)| tb).collect(),
        };
        Ok((model, scores))
    }

    /// Scores of new rows with the stored means, weights and loadings.
    pub fn transform(&self, x: &[Vec<f64>]) -> Scores {
        let mut xc: Vec<Vec<f64>> = x.iter().map(|r| r.iter().zip(&self.means).map(|(v, m)| v - m).collect()).collect();
        let mut supers = vec![Vec::with_capacity(self.weights.len()); x.len()];
        let mut blocks = Vec::new();
        for k in 0..self.weights.len() {
            let (t, tb) = self.component_scores(k, &xc);
            deflate(&mut xc, &t, &self.loadings[k]);
            supers.iter_mut().zip(&t).for_each(|(s, v)| s.push(*v));
            blocks.push(tb);
        }
        Scores { super_scores: supers, block_scores: blocks }
    }

    /// Mean over components of each block's importance.
    pub fn block_importance_mean(&self) -> Vec<f64> {
        let k = self.importance.len().max(1) as f64;
        (0..self.block_sizes.len()).map(|b| self.importance.iter().map(|a| a[b]).sum::<f64>() / k).collect()
    }

    fn block_ranges(&self) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        self.block_sizes.iter().scan(0, |start, &n| {
            let r = *start..*start + n;
            *start += n;
            Some(r)
        })
    }

    /// Super score and block scores of component `k` on (centred, deflated) rows.
    fn component_scores(&self, k: usize, xc: &[Vec<f64>]) -> (Vec<f64>, Vec<Vec<f64>>) {
        let (w, a) = (&self.weights[k], &self.importance[k]);
        let mut t = vec![0.0; xc.len()];
        let mut tb = Vec::new();
        for (b, range) in self.block_ranges().enumerate() {
            let norm = a[b].sqrt();
            let scores: Vec<f64> = if norm < 1e-12 {
                vec![0.0; xc.len()]
            } else {
                xc.iter()
                    .map(|r| r[range.clone()].iter().zip(&w[range.clone()]).map(|(x, w)| x * w).sum::<f64>() / norm)
                    .collect()
            };
            t.iter_mut().zip(&scores).for_each(|(ti, s)| *ti += a[b] * s);
            tb.push(scores);
        }
        (t, tb)
    }
}

fn column_means(x: &[Vec<f64>]) -> Vec<f64> {
    let n = x.len().max(1) as f64;
    let mut m = vec![0.0; x.first().map_or(0, Vec::len)];
    for r in x {
        m.iter_mut().zip(r).for_each(|(a, v)| *a += v);
    }
    m.iter_mut().for_each(|a| *a /= n);
    m
}

fn deflate(xc: &mut [Vec<f64>], t: &[f64], p: &[f64]) {
    for (r, ti) in xc.iter_mut().zip(t) {
        r.iter_mut().zip(p).for_each(|(v, pj)| *v -= ti * pj);
    }
}

/// The unit eigenvector of XᵀY YᵀX with the largest eigenvalue (the leading left singular vector of
/// M = XᵀY), from whichever of MMᵀ (p×p) and MᵀM (q×q) is smaller; largest-magnitude entry positive.
fn leading_left_singular_vector(x: &[Vec<f64>], y: &[Vec<f64>]) -> Vec<f64> {
    let (p, q) = (x[0].len(), y[0].len());
    let mut m = vec![0.0; p * q];
    for (xr, yr) in x.iter().zip(y) {
        for (i, xi) in xr.iter().enumerate() {
            let row = &mut m[i * q..(i + 1) * q];
            row.iter_mut().zip(yr).for_each(|(a, yj)| *a += xi * yj);
        }
    }
    let mut w = if p <= q {
        let s = gram(&m, p, q, false);
        top_eigenvector(s, p)
    } else {
        let v = top_eigenvector(gram(&m, p, q, true), q);
        let mv: Vec<f64> = (0..p).map(|i| m[i * q..(i + 1) * q].iter().zip(&v).map(|(a, b)| a * b).sum()).collect();
        let norm = mv.iter().map(|v| v * v).sum::<f64>().sqrt();
        mv.iter().map(|v| if norm > 0.0 { v / norm } else { 0.0 }).collect()
    };
    let lead = w.iter().enumerate().fold(0, |best, (i, v)| if v.abs() > w[best].abs() { i } else { best });
    if w[lead] < 0.0 {
        w.iter_mut().for_each(|v| *v = -*v);
    }
    w
}

/// MMᵀ (p×p) or, with `transpose`, MᵀM (q×q), of a row-major p×q matrix.
fn gram(m: &[f64], p: usize, q: usize, transpose: bool) -> Vec<f64> {
    let (n, dot): (usize, Box<dyn Fn(usize, usize) -> f64>) = if transpose {
        (q, Box::new(|a, b| (0..p).map(|i| m[i * q + a] * m[i * q + b]).sum()))
    } else {
        (p, Box::new(|a, b| m[a * q..(a + 1) * q].iter().zip(&m[b * q..(b + 1) * q]).map(|(x, y)| x * y).sum()))
    };
    let mut s = vec![0.0; n * n];
    for a in 0..n {
        for b in a..n {
            let v = dot(a, b);
            s[a * n + b] = v;
            s[b * n + a] = v;
        }
    }
    s
}

/// Eigenvector of the largest eigenvalue of a symmetric n×n matrix, by cyclic Jacobi rotations
/// (slow for large n but exact to rounding, with no dependence on a spectral gap or a start vector).
fn top_eigenvector(mut a: Vec<f64>, n: usize) -> Vec<f64> {
    let mut v = vec![0.0; n * n];
    (0..n).for_each(|i| v[i * n + i] = 1.0);
    let norm: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j].powi(2))
            .sum();
        if off.sqrt() <= 1e-15 * norm.max(1e-300) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() <= 1e-300 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = if theta >= 0.0 { 1.0 } else { -1.0 } / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let top = (0..n).fold(0, |best, i| if a[i * n + i] > a[best * n + best] { i } else { best });
    (0..n).map(|k| v[k * n + top]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_finds_the_top_eigenvector() {
        // [[2,1],[1,2]]: eigenvalues 3 (1,1)/√2 and 1.
        let v = top_eigenvector(vec![2.0, 1.0, 1.0, 2.0], 2);
        assert!((v[0].abs() - 0.5f64.sqrt()).abs() < 1e-12 && (v[0] - v[1]).abs() < 1e-12);
    }

    #[test]
    fn transform_of_the_training_rows_gives_the_fitted_scores() {
        let mut rng = crate::rng::Rng::new(3);
        let x: Vec<Vec<f64>> = (0..30).map(|_| (0..5).map(|_| rng.normal()).collect()).collect();
        let y: Vec<Vec<f64>> = x.iter().map(|r| vec![r[0] + r[3], r[1] - r[4]]).collect();
        let (m, fitted) = MbPls::fit(&x, &[2, 3], &y, 3).unwrap();
        let again = m.transform(&x);
        for (a, b) in fitted.super_scores.iter().flatten().zip(again.super_scores.iter().flatten()) {
            assert!((a - b).abs() < 1e-9);
        }
        for a in &m.importance {
            assert!((a.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        }
    }
}
