"""Verification: prove two sides hold the same rows — counts and row checksums, chunk by chunk.

canonical.py   each cell's canonical value, one 64-bit hash per row (vectorised)
compare.py     key-range alignment of the two sides, the row diff of a differing chunk
run.py         verify(spec): a reader thread per side, progress events, the result
result.py      VerifyResult → TableVerdict → Finding (missing/unexpected/duplicated/different)
"""

from bulksync.verification.result import Finding, TableVerdict, VerifyResult
from bulksync.verification.run import VerifySpec, verify

__all__ = ["Finding", "TableVerdict", "VerifyResult", "VerifySpec", "verify"]
