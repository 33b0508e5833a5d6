-- The schema as Assay created it with metadata.create_all, before schema migrations
-- (frozen: tests/test_migrations.py upgrades a database made from it). sqlite dialect.

CREATE TABLE api_keys (
	id INTEGER NOT NULL, 
	key_sha256 VARCHAR(64) NOT NULL, 
	role VARCHAR(16) NOT NULL, 
	name VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	revoked_at DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE (key_sha256)
);

CREATE TABLE audit (
	id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	actor VARCHAR(64) NOT NULL, 
	action VARCHAR(32) NOT NULL, 
	version_id INTEGER, 
	reason TEXT, 
	details TEXT, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_audit_version_id ON audit (version_id);

CREATE TABLE backtests (
	id INTEGER NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	candidate_id INTEGER NOT NULL, 
	baseline_id INTEGER, 
	request TEXT NOT NULL, 
	created_by VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	started_at DATETIME, 
	heartbeat_at DATETIME, 
	finished_at DATETIME, 
	records_done INTEGER NOT NULL, 
	fraction_done FLOAT, 
	error TEXT, 
	result TEXT, 
	PRIMARY KEY (id)
);

CREATE TABLE decision_flags (
	decision_id VARCHAR(32) NOT NULL, 
	rule_id VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	manifest_id VARCHAR(64) NOT NULL
);

CREATE INDEX ix_decision_flags_rule ON decision_flags (rule_id, created_at, manifest_id);

CREATE TABLE decisions (
	id VARCHAR(32) NOT NULL, 
	created_at DATETIME NOT NULL, 
	manifest_id VARCHAR(64) NOT NULL, 
	input_sha256 VARCHAR(64) NOT NULL, 
	input TEXT NOT NULL, 
	ruleset_name VARCHAR(64) NOT NULL, 
	ruleset_version VARCHAR(32) NOT NULL, 
	ruleset_sha256 VARCHAR(64) NOT NULL, 
	channel VARCHAR(8) NOT NULL, 
	risk_score INTEGER NOT NULL, 
	result TEXT NOT NULL, 
	elapsed_ms FLOAT NOT NULL, 
	request_id VARCHAR(128), 
	source VARCHAR(16) NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_decisions_created_at ON decisions (created_at, manifest_id);

CREATE INDEX ix_decisions_manifest_id ON decisions (manifest_id);

CREATE TABLE inspections (
	id INTEGER NOT NULL, 
	manifest_id VARCHAR(64) NOT NULL, 
	result VARCHAR(16) NOT NULL, 
	pattern VARCHAR(64), 
	notes TEXT, 
	recorded_by VARCHAR(64) NOT NULL, 
	recorded_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_inspections_manifest_id ON inspections (manifest_id);

CREATE TABLE journal_offsets (
	segment VARCHAR(128) NOT NULL, 
	position BIGINT NOT NULL, 
	PRIMARY KEY (segment)
);

CREATE TABLE ruleset_versions (
	id INTEGER NOT NULL, 
	parent_id INTEGER, 
	state VARCHAR(16) NOT NULL, 
	author VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	name VARCHAR(64) NOT NULL, 
	version VARCHAR(32) NOT NULL, 
	sha256 VARCHAR(64) NOT NULL, 
	sources TEXT NOT NULL, 
	comment TEXT, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_ruleset_versions_state ON ruleset_versions (state);

CREATE UNIQUE INDEX uq_ruleset_versions_one_active ON ruleset_versions (state) WHERE state = 'active';

CREATE TABLE shadow_results (
	id INTEGER NOT NULL, 
	run_id INTEGER NOT NULL, 
	decision_id VARCHAR(32), 
	created_at DATETIME NOT NULL, 
	manifest_id VARCHAR(64) NOT NULL, 
	shadow_sha256 VARCHAR(64) NOT NULL, 
	active_channel VARCHAR(8) NOT NULL, 
	shadow_channel VARCHAR(8) NOT NULL, 
	active_score INTEGER NOT NULL, 
	shadow_score INTEGER NOT NULL, 
	gained TEXT, 
	lost TEXT, 
	shadow_flags TEXT, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_shadow_results_run_id ON shadow_results (run_id, id);

CREATE TABLE shadow_runs (
	id INTEGER NOT NULL, 
	version_id INTEGER NOT NULL, 
	started_by VARCHAR(64) NOT NULL, 
	started_at DATETIME NOT NULL, 
	stopped_by VARCHAR(64), 
	stopped_at DATETIME, 
	PRIMARY KEY (id)
);
