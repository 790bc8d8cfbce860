-- Shops, their tills and each till's journal, exactly once.
CREATE TABLE shops (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE tills (
    shop_id            TEXT NOT NULL REFERENCES shops (id),
    till_id            TEXT NOT NULL,
    -- SHA-256 of the till's credential: the credential itself is never kept.
    credential_sha256  TEXT UNIQUE,
    enrolled_at        TIMESTAMPTZ,
    revoked_at         TIMESTAMPTZ,
    last_seq           BIGINT NOT NULL DEFAULT 0,
    last_hash          TEXT NOT NULL,
    last_seen          TIMESTAMPTZ,
    PRIMARY KEY (shop_id, till_id)
);

CREATE TABLE enrolment_codes (
    code_sha256  TEXT PRIMARY KEY,
    shop_id      TEXT NOT NULL,
    till_id      TEXT NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    used_at      TIMESTAMPTZ,
    FOREIGN KEY (shop_id, till_id) REFERENCES tills (shop_id, till_id)
);

CREATE TABLE journal (
    shop_id      TEXT NOT NULL,
    till_id      TEXT NOT NULL,
    seq          BIGINT NOT NULL CHECK (seq > 0),
    at_ms        BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    reference    TEXT,
    payload      TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_id, till_id, seq),
    FOREIGN KEY (shop_id, till_id) REFERENCES tills (shop_id, till_id)
);

-- What head office refused from a till, for the owner to look into.
CREATE TABLE till_flags (
    id       BIGSERIAL PRIMARY KEY,
    shop_id  TEXT NOT NULL,
    till_id  TEXT NOT NULL,
    at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    seq      BIGINT NOT NULL,
    problem  TEXT NOT NULL,
    FOREIGN KEY (shop_id, till_id) REFERENCES tills (shop_id, till_id)
);
