"""Deciding: rule scores to a risk score, and the risk score to a lane.

``risk_score`` is a noisy-or over the distinct rules that fired, each counted once at its
score: ``100 * (1 - prod(1 - score_r / 100))``, rounded half up. One rule firing on many
goods items counts once, so a long manifest is not red for being long; two independent
indications add up, but never past 100.

Indicators (rules with ``role: indicator``: a young consignor, a hub in the routing, a vague
description) are circumstantial: they count only beside a finding about the goods. A manifest
on which only indicators fired scores 0 and stays green, its flags shown for the record.

The lane comes from the pack's thresholds (``pack.yaml`` ``lanes:``): red when the score
reaches ``red_at`` or any flag has a severity listed in ``red_severities``; yellow when it
reaches ``yellow_at``; green otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from assay.engine.contracts import Channel, Role, Severity


@dataclass(frozen=True, slots=True)
class Lanes:
    yellow_at: int
    red_at: int
    red_severities: frozenset[Severity]

    def decide(self, hits: Sequence[tuple[str, int, Severity, Role]]) -> tuple[int, Channel]:
        """``(risk_score, channel)`` from ``(rule_id, score, severity, role)`` of every flag."""
        best: dict[str, int] = {}
        forced_red = False
        found = False
        for rule_id, score, severity, role in hits:
            if score > best.get(rule_id, -1):
                best[rule_id] = score
            if role == "finding":
                found = True
                if severity in self.red_severities:
                    forced_red = True
        if not found:
            return 0, "green"  # nothing about the goods: yellow_at is at least 1
        miss = 1.0
        for score in best.values():
            miss *= 1.0 - score / 100.0
        risk = min(100, max(0, math.floor(100.0 * (1.0 - miss) + 0.5 + 1e-9)))
        if forced_red or risk >= self.red_at:
            return risk, "red"
        if risk >= self.yellow_at:
            return risk, "yellow"
        return risk, "green"
