//! Blend weights: the one place where user-given weights (styles of the 26-style net, style
//! vectors of paintings, Gatys style images) are checked and normalised to sum to 1.
//!
//! Weights are divided by the largest before they are summed, so that weights near
//! `f32::MAX` (`3e38 + 3e38` overflows to infinity) still normalise to the right shares
//! instead of to zeros or NaN.

use crate::{Error, Result};

/// Checks that every weight is finite and non-negative and that one is positive, and returns
/// them normalised to sum to 1 (in the same order). `op` names the caller in errors.
pub fn normalize(op: &'static str, weights: &[f32]) -> Result<Vec<f32>> {
    let bad = |message: String| Error::InvalidArgument { op, message };
    if weights.is_empty() {
        return Err(bad("no blend weights given".into()));
    }
    if let Some((i, w)) = weights
        .iter()
        .enumerate()
        .find(|(_, w)| !(w.is_finite() && **w >= 0.0))
    {
        return Err(bad(format!(
            "blend weight {} is {w}; weights must be finite and non-negative",
            i + 1
        )));
    }
    let max = weights.iter().copied().fold(0.0f32, f32::max);
    if max <= 0.0 {
        return Err(bad(
            "the blend weights sum to 0; give at least one a positive weight".into(),
        ));
    }
    // Each w / max is in [0, 1], so the sum is at most the number of weights.
    let sum: f32 = weights.iter().map(|w| w / max).sum();
    Ok(weights.iter().map(|w| w / max / sum).collect())
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn weights_normalise_to_one() {
        assert_eq!(normalize("t", &[1.0, 3.0]).unwrap(), vec![0.25, 0.75]);
        assert_eq!(normalize("t", &[0.0, 2.0]).unwrap(), vec![0.0, 1.0]);
    }

    #[test]
    fn huge_weights_do_not_overflow() {
        // 3e38 + 3e38 is infinite in f32; the shares are still one half each.
        assert_eq!(normalize("t", &[3e38, 3e38]).unwrap(), vec![0.5, 0.5]);
        let w = normalize("t", &[f32::MAX, f32::MAX, f32::MAX, f32::MAX]).unwrap();
        assert!(w.iter().all(|&v| (v - 0.25).abs() < 1e-7), "{w:?}");
        // Tiny weights are not flushed to zero either.
        assert_eq!(normalize("t", &[1e-40, 1e-40]).unwrap(), vec![0.5, 0.5]);
    }

    #[test]
    fn bad_weights_are_named() {
        for bad in [
            &[f32::NAN][..],
            &[1.0, f32::INFINITY],
            &[-1.0, 2.0],
            &[0.0, 0.0],
            &[],
        ] {
            let e = normalize("style", bad).unwrap_err().to_string();
            assert!(e.starts_with("style: "), "{e}");
        }
        let e = normalize("style", &[1.0, -2.0]).unwrap_err().to_string();
        assert!(e.contains("weight 2 is -2"), "{e}");
    }
}
