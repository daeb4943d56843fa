"""Risk models in factor form, the shape every optimizer and tracking-error figure uses.

Covariance ``Sigma = B F B' + diag(d)`` with ``B`` (n x k) exposures, ``F`` (k x k) factor covariance
and ``d`` (n) specific variances, all annualized. Kept in factor form so that an optimizer can write
risk as ``sum_squares(L' B' a) + sum_squares(sqrt(d) * a)`` (``L`` a Cholesky factor of ``F``) and so
that tracking error over thousands of accounts is a pair of matrix products.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class FactorRiskModel:
    """An annualized factor covariance over ``symbols``.

    ``factor_names`` label the columns of ``exposures``; ``as_of`` is the last return date used.
    """

    symbols: tuple[str, ...]
    factor_names: tuple[str, ...]
    exposures: FloatArray  # n x k
    factor_cov: FloatArray  # k x k
    specific_var: FloatArray  # n
    as_of: str = ""
    meta: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n, k = self.exposures.shape
        if len(self.symbols) != n or len(self.factor_names) != k:
            raise ValueError("exposures shape does not match symbols and factor names")
        if self.factor_cov.shape != (k, k) or self.specific_var.shape != (n,):
            raise ValueError("factor covariance or specific variance has the wrong shape")

    @property
    def n(self) -> int:
        return len(self.symbols)

    def index(self) -> dict[str, int]:
        """Symbol -> row, built once per model (read-only: callers must not change it)."""
        cached = self.__dict__.get("_index")
        if cached is None:
            cached = {s: i for i, s in enumerate(self.symbols)}
            object.__setattr__(self, "_index", cached)
        return cached  # type: ignore[no-any-return]

    def total_var(self) -> FloatArray:
        """Each name's total variance ``diag(B F B') + d``, computed once per model."""
        cached = self.__dict__.get("_total_var")
        if cached is None:
            b = self.exposures
            cached = np.einsum("ij,jk,ik->i", b, self.factor_cov, b) + self.specific_var
            object.__setattr__(self, "_total_var", cached)
        return cached  # type: ignore[no-any-return]

    def factor_chol(self) -> FloatArray:
        """``L`` with ``L L' = F`` (jittered if F is only semi-definite)."""
        f = 0.5 * (self.factor_cov + self.factor_cov.T)
        try:
            return np.asarray(np.linalg.cholesky(f), dtype=np.float64)
        except np.linalg.LinAlgError:
            w, v = np.linalg.eigh(f)
            return np.asarray(v * np.sqrt(np.clip(w, 0.0, None)), dtype=np.float64)

    def covariance(self) -> FloatArray:
        b = self.exposures
        return b @ self.factor_cov @ b.T + np.diag(self.specific_var)

    def tracking_error(self, weights: FloatArray, benchmark: FloatArray) -> FloatArray:
        """Ex-ante tracking error of one (n,) or many (m x n) weight vectors against ``benchmark`` (n,)."""
        a = np.atleast_2d(weights) - benchmark[None, :]
        fa = a @ self.exposures  # m x k
        var = np.einsum("ij,jk,ik->i", fa, self.factor_cov, fa) + (a * a) @ self.specific_var
        te = np.sqrt(np.clip(var, 0.0, None))
        return te if np.ndim(weights) == 2 else te[:1]

    def restrict(self, symbols: list[str] | tuple[str, ...]) -> FactorRiskModel:
        """The same model over a subset (or reordering) of symbols."""
        idx = self.index()
        rows = [idx[s] for s in symbols]
        return FactorRiskModel(
            symbols=tuple(symbols),
            factor_names=self.factor_names,
            exposures=self.exposures[rows],
            factor_cov=self.factor_cov,
            specific_var=self.specific_var[rows],
            as_of=self.as_of,
            meta=dict(self.meta),
        )
