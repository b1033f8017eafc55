"""Output files derived from the event log: event tables, per-patient tables, NONMEM datasets.

Every file is written atomically (:mod:`sim.exports.atomic`) and carries its provenance
(:mod:`sim.exports.provenance`): a ``FILE.provenance.json`` sidecar next to it, and for
Parquet also the file's own key-value metadata. Column documentation: ``docs/exports.md``.
"""
