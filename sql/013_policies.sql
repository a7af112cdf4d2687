-- vmeter schema 13: the aggregator's policies (docs/POLICIES.md): alert
-- states, their transitions, and the decisions taken on them with the
-- actions' results.
--
-- Written by vmeter-aggregator only (its rule engine); read by
-- `vmeter-admin alerts` and `vmeter-admin audit`, and later the web UI.

-- An alert: one rule for one subject (a VM by its UUID, a host or a
-- tenant by name), its state machine's state (aggregator/alert.h) as the
-- daemon resumes it after a restart.  rule_digest: of what decides the
-- state (condition, recovery, for, recover-for); a rule changed since is
-- a new alert.  last_action: the cooldown's start.
CREATE TABLE agg_alert (
    alert_id      bigserial PRIMARY KEY,
    rule          text NOT NULL,
    rule_digest   text NOT NULL,
    subject_kind  text NOT NULL CHECK (subject_kind IN ('vm', 'host', 'tenant')),
    subject       text NOT NULL,
    subject_name  text NOT NULL,
    host          text,
    tenant        text,
    severity      text NOT NULL,
    state         text NOT NULL CHECK (state IN ('inactive', 'pending', 'firing', 'resolved')),
    since         timestamptz NOT NULL,
    pending_since timestamptz,
    recover_since timestamptz,
    episode_start timestamptz,
    last_action   timestamptz,
    updated_at    timestamptz NOT NULL,
    UNIQUE (rule, subject_kind, subject)
);
CREATE INDEX agg_alert_state ON agg_alert (state);

-- Every transition with the values that caused it (a JSON object of the
-- condition's windowed functions, null where unknown).
CREATE TABLE agg_alert_transition (
    transition_id bigserial PRIMARY KEY,
    alert_id      bigint NOT NULL REFERENCES agg_alert,
    at            timestamptz NOT NULL,
    from_state    text NOT NULL,
    to_state      text NOT NULL,
    trusted       bool NOT NULL,
    vals          jsonb NOT NULL
);
CREATE INDEX agg_alert_transition_alert ON agg_alert_transition (alert_id, at);

-- A decision: what an action of the rule became when its alert fired or
-- resolved.  verdict: act (submitted), recommend (automation =
-- recommend: nothing run), skipped with the reason (dry-run, opt-out,
-- cooldown, budget, maintenance, inhibited, world-changed) and its
-- detail.  Then the action's result, and the follow-up: the condition's
-- values follow_up after the action ("did it help?").  A decision to act
-- whose daemon died before the result is 'abandoned' at the next start,
-- never run twice.
CREATE TABLE agg_decision (
    decision_id      bigserial PRIMARY KEY,
    alert_id         bigint NOT NULL REFERENCES agg_alert,
    transition_id    bigint NOT NULL REFERENCES agg_alert_transition,
    at               timestamptz NOT NULL,
    rule             text NOT NULL,
    subject_kind     text NOT NULL,
    subject          text NOT NULL,
    subject_name     text NOT NULL,
    status           text NOT NULL CHECK (status IN ('firing', 'resolved')),
    verdict          text NOT NULL CHECK (verdict IN ('act', 'recommend', 'skipped')),
    reason           text NOT NULL DEFAULT '' CHECK (reason IN ('', 'dry-run', 'opt-out', 'cooldown', 'budget',
                                                              'maintenance', 'inhibited', 'world-changed')),
    detail           text NOT NULL DEFAULT '',
    action_kind      text NOT NULL,           -- program, webhook, virt.set-vcpus, ...
    action_spec      jsonb NOT NULL,
    vals             jsonb NOT NULL,
    result           text CHECK (result IN ('ok', 'failed', 'timeout', 'not-found', 'cancelled', 'refused',
                                            'abandoned')),
    result_message   text,
    attempts         int,
    exit_status      int,
    http_status      int,
    output           text,
    started_at       timestamptz,
    finished_at      timestamptz,
    follow_up_due    timestamptz,
    follow_up_at     timestamptz,
    follow_up_vals   jsonb,
    follow_up_holds  bool            -- the condition still held: NULL unknown
);
CREATE INDEX agg_decision_at ON agg_decision (at);
CREATE INDEX agg_decision_rule ON agg_decision (rule, at);
CREATE INDEX agg_decision_pending ON agg_decision (decision_id) WHERE verdict = 'act' AND result IS NULL;
