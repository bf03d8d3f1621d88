"""The ``changes`` stage: a registered change detector's curve for every video of a shard, cached
in one change-curve file (:mod:`nemi.io.curves`). No thresholds are applied here."""
