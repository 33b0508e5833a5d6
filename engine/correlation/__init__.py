"""Correlation rules: patterns over many manifests of one entity within a time window.

``language``   correlation rule files -> checked :class:`CorrelationRule` (beside manifest rules)
``measures``   the group, baseline and history measures a group condition can read
``entities``   entity keys: consignor, consignee, route, HS heading
``evaluator``  the plain-Python reference evaluator (per-entity windows in memory), the oracle
``alerts``     the alert record and the explanation an officer reads aloud
``rete``       the durable_rules evaluator: sequence rules (``group.count >= N``) in a Rete
               network, the others delegated to the reference, loudly
``backtest``   correlation rules in a back-test: alerts, manifests and precision per rule,
               candidate against baseline

Per-manifest screening (``Engine.screen``, the API) does not evaluate correlation rules yet;
``assay screen --alerts FILE`` (``--outcomes FILE`` for the seizures), back-tests, ``assay
replay`` and the rule examples do.
"""
