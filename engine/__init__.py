"""Assay: a shipment-inspection rules engine.

Public surface::

    from assay.engine import Engine, Manifest
    engine = Engine()                      # the default rule pack, compiled evaluator
    result = engine.screen(Manifest.model_validate_json(raw))
    result.channel, result.risk_score, result.flags
"""

from assay.engine.contracts import Flag, Manifest, RulesetInfo, ScreeningResult
from assay.engine.engine import Engine
from assay.engine.errors import AssayError, Problem
from assay.engine.ruleset import RuleSet, compile_pack, load_default_pack, load_pack

__all__ = [
    "AssayError",
    "Engine",
    "Flag",
    "Manifest",
    "Problem",
    "RuleSet",
    "RulesetInfo",
    "ScreeningResult",
    "compile_pack",
    "load_default_pack",
    "load_pack",
]
