-- vmeter schema 11: the web UI's users, sessions and API tokens
-- (vmeter-web, docs/WEB.md).  No secret is stored as it was given:
-- passwords as Argon2id strings (libsodium's crypto_pwhash_str), session
-- and API tokens as the hex SHA-256 of the random token.

CREATE TABLE web_user (
    user_id       serial PRIMARY KEY,
    name          text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9_.@-]{1,64}$'),
    role          text NOT NULL CHECK (role IN ('admin', 'operator', 'tenant-viewer')),
    -- a tenant viewer sees one tenant; the others see all of them
    tenant        text CHECK (tenant <> ''),
    password_hash text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((role = 'tenant-viewer') = (tenant IS NOT NULL))
);

-- Server-side sessions: the cookie holds the token, the table its hash.
-- csrf is the synchronizer token the client echoes in X-CSRF-Token on
-- every state-changing request (not a credential on its own).
CREATE TABLE web_session (
    token_hash  text PRIMARY KEY CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    user_id     int NOT NULL REFERENCES web_user ON DELETE CASCADE,
    csrf        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX web_session_user ON web_session (user_id);
CREATE INDEX web_session_expires ON web_session (expires_at);

-- API tokens for automation: `Authorization: Bearer vmt_...`.  prefix is
-- the token's first characters, to tell tokens apart in listings.
CREATE TABLE web_token (
    token_id    serial PRIMARY KEY,
    user_id     int NOT NULL REFERENCES web_user ON DELETE CASCADE,
    token_hash  text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    prefix      text NOT NULL,
    label       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    revoked_at  timestamptz
);
