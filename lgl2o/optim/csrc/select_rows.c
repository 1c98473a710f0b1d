/* The guard's choice applied, for lgl2o.optim.candidates.pick: per run s (a row of P floats), whether each
 * candidate is finite (every entry of its row, and its estimate where one is given), the rule of
 * lgl2o.optim.decision.choose, and the chosen row copied out, in one pass over the rows:
 *     proposal_ok = row finite && isfinite(proposal_est[s]),  fallback_ok likewise
 *     take = proposal_ok && (confident[s] || !fallback_ok),    keep = !proposal_ok && !fallback_ok
 *     out[s] = take ? proposal[s] : keep ? current[s] : fallback[s]
 * A row is copied bit for bit, so the result equals the PyTorch ops' (torch.where) in every bit; only the
 * number of passes over memory differs (eager PyTorch needs some fifteen kernels for this).
 * Rows are contiguous; row s of x starts at x + s * stride. An estimate pointer may be NULL (none).
 * flags holds take (S) then keep (S). */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* finite: exponent bits not all ones (integer test: no -ffast-math assumptions, vectorizes) */
static bool finite(const float *x, long n) {
    uint32_t bad = 0;
    for (long p = 0; p < n; p++) {
        uint32_t u;
        memcpy(&u, x + p, sizeof u);
        bad |= (u & 0x7f800000u) == 0x7f800000u;
    }
    return !bad;
}

void lgl2o_select_rows(long S, long P, const bool *confident,
                       const float *proposal, long ps, const float *proposal_est,
                       const float *fallback, long fs, const float *fallback_est,
                       const float *current, long cs, float *out, bool *flags) {
    bool *take = flags, *keep = flags + S;
    for (long s = 0; s < S; s++) {
        const float *a = proposal + s * ps, *b = fallback + s * fs;
        bool a_ok = (!proposal_est || finite(proposal_est + s, 1)) && finite(a, P);
        bool b_ok = (!fallback_est || finite(fallback_est + s, 1)) && finite(b, P);
        take[s] = a_ok && (confident[s] || !b_ok);
        keep[s] = !a_ok && !b_ok;
        memcpy(out + s * P, take[s] ? a : keep[s] ? current + s * cs : b, P * sizeof(float));
    }
}
