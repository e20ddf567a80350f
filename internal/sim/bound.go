package sim

import "math"

// upperBound95 is the exact (Clopper–Pearson) one-sided 95% upper
// confidence bound of a share seen k times in n trials: the p at which k
// or fewer of n would happen 5% of the time. For k = 0 it is
// 1 − 0.05^(1/n), about 3/n (the rule of three). n = 0 bounds nothing (1).
func upperBound95(k, n int) float64 {
	return clopperPearsonUpper(k, n, 0.05)
}

// clopperPearsonUpper solves P(X ≤ k | n, p) = alpha for p by bisection:
// the binomial CDF falls as p grows.
func clopperPearsonUpper(k, n int, alpha float64) float64 {
	if n <= 0 || k >= n {
		return 1
	}
	k = max(k, 0)
	lo, hi := 0.0, 1.0
	for range 100 {
		mid := (lo + hi) / 2
		if binomialCDF(k, n, mid) > alpha {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// binomialCDF is P(X ≤ k) for X ~ Binomial(n, p), summed in logs.
func binomialCDF(k, n int, p float64) float64 {
	switch {
	case p <= 0:
		return 1
	case p >= 1:
		if k >= n {
			return 1
		}
		return 0
	}
	lp, lq := math.Log(p), math.Log1p(-p)
	lnN, _ := math.Lgamma(float64(n + 1))
	var sum float64
	for i := 0; i <= k && i <= n; i++ {
		li, _ := math.Lgamma(float64(i + 1))
		lni, _ := math.Lgamma(float64(n - i + 1))
		sum += math.Exp(lnN - li - lni + float64(i)*lp + float64(n-i)*lq)
	}
	return min(sum, 1)
}
