//! The enhancement table: for every model that enhances and every noisy test condition, SI-SDR,
//! segmental SNR and STOI of the noisy input and of the enhanced output against the clean speech
//! (means over the test utterances, then over seeds), as Markdown and enhancement.csv.

use super::Results;
use crate::records::EnhancementStats;

/// (model, train, test, condition, seeds, mean scores) of every enhancing cell, in table order.
fn rows<'a>(r: &'a Results) -> Vec<(&'a str, &'a str, &'a str, &'a str, usize, EnhancementStats)> {
    let mut out = Vec::new();
    for m in &r.models {
        for (train, test) in &r.pairs {
            for c in &r.conditions {
                let key = (m.clone(), train.clone(), test.clone(), c.name.clone());
                let Some(evals) = r.groups.get(&key) else { continue };
                let stats: Vec<&EnhancementStats> = evals.iter().filter_map(|e| e.enhancement.as_ref()).collect();
                if stats.is_empty() {
                    continue;
                }
                let n = stats.len() as f64;
                let mean = |f: fn(&EnhancementStats) -> f64| stats.iter().map(|s| f(s)).sum::<f64>() / n;
                let s = EnhancementStats {
                    utterances: stats[0].utterances,
                    si_sdr_noisy: mean(|s| s.si_sdr_noisy),
                    si_sdr_enhanced: mean(|s| s.si_sdr_enhanced),
                    ssnr_noisy: mean(|s| s.ssnr_noisy),
                    ssnr_enhanced: mean(|s| s.ssnr_enhanced),
                    stoi_noisy: mean(|s| s.stoi_noisy),
                    stoi_enhanced: mean(|s| s.stoi_enhanced),
                };
                out.push((m.as_str(), train.as_str(), test.as_str(), c.name.as_str(), stats.len(), s));
            }
        }
    }
    out
}

pub fn markdown(r: &Results) -> String {
    let rows = rows(r);
    if rows.is_empty() {
        return String::new();
    }
    let mut md = String::from(
        "\n## Enhancement\n\nModels with an enhancement head, on every noisy test condition: the noisy input → the \
         enhanced output, each against the clean speech (SI-SDR and segmental SNR in dB, STOI in [0, 1]; means over \
         the test utterances and seeds). Enhanced audio is the estimated magnitude with the noisy phase.\n\n\
         | model | train → test | condition | n | SI-SDR | SSNR | STOI |\n|---|---|---|---:|---|---|---|\n",
    );
    for (m, train, test, cond, _, s) in rows {
        let label = r.condition(cond).and_then(|c| c.snr_db).map_or(cond.to_string(), |snr| format!("{snr} dB"));
        md.push_str(&format!(
            "| {m} | {train} → {test} | {label} | {} | {:.2} → {:.2} | {:.2} → {:.2} | {:.3} → {:.3} |\n",
            s.utterances,
            s.si_sdr_noisy,
            s.si_sdr_enhanced,
            s.ssnr_noisy,
            s.ssnr_enhanced,
            s.stoi_noisy,
            s.stoi_enhanced
        ));
    }
    md
}

pub fn csv(r: &Results) -> String {
    let mut csv = String::from(
        "model,train,test,condition,snr_db,seeds,utterances,si_sdr_noisy,si_sdr_enhanced,ssnr_noisy,ssnr_enhanced,stoi_noisy,stoi_enhanced\n",
    );
    for (m, train, test, cond, seeds, s) in rows(r) {
        let snr = r.condition(cond).and_then(|c| c.snr_db).map(|v| v.to_string()).unwrap_or_default();
        csv.push_str(&format!(
            "{m},{train},{test},{cond},{snr},{seeds},{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6}\n",
            s.utterances,
            s.si_sdr_noisy,
            s.si_sdr_enhanced,
            s.ssnr_noisy,
            s.ssnr_enhanced,
            s.stoi_noisy,
            s.stoi_enhanced
        ));
    }
    csv
}
