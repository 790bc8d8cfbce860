-- What head office derives from the journals it holds: sales, Z reports and
-- stock. Every row here can be rebuilt from `journal` (the projector reads
-- each till's entries in order from `projected_seq` on), so the journal
-- stays the one record and these tables are its index.

-- The time zone a shop's days and hours are counted in.
ALTER TABLE shops ADD COLUMN timezone TEXT NOT NULL DEFAULT 'UTC';

-- How far the projector has read each till's journal, and the totals of
-- the till's open period as head office counts them (JSON of
-- tillpoint_core::report::ReportTotals, NULL before its first event).
ALTER TABLE tills
    ADD COLUMN projected_seq BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN open_totals TEXT;

CREATE TABLE sales (
    shop_id        TEXT NOT NULL,
    till_id        TEXT NOT NULL,
    receipt_no     TEXT NOT NULL,
    seq            BIGINT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('sale', 'refund')),
    at_ms          BIGINT NOT NULL,
    day            DATE NOT NULL,
    local_hour     SMALLINT NOT NULL,
    cashier        INTEGER NOT NULL,
    currency       TEXT NOT NULL,
    -- What the tenders settled, in minor units (negative on a refund).
    settled_minor  BIGINT NOT NULL,
    voided_seq     BIGINT,
    -- JSON of tillpoint_core::sale::SaleRecord, as journaled.
    record         TEXT NOT NULL,
    PRIMARY KEY (shop_id, till_id, receipt_no),
    FOREIGN KEY (shop_id, till_id, seq) REFERENCES journal (shop_id, till_id, seq)
);
CREATE INDEX sales_by_day ON sales (shop_id, day);

-- Each tender of each sale: the base of reconciliation with the acquirer.
CREATE TABLE sale_tenders (
    shop_id       TEXT NOT NULL,
    till_id       TEXT NOT NULL,
    receipt_no    TEXT NOT NULL,
    idx           INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    amount_minor  BIGINT NOT NULL,
    scheme        TEXT,
    stan          TEXT,
    rrn           TEXT,
    auth_code     TEXT,
    order_id      TEXT,
    pan_masked    TEXT,
    offline       BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (shop_id, till_id, receipt_no, idx),
    FOREIGN KEY (shop_id, till_id, receipt_no) REFERENCES sales (shop_id, till_id, receipt_no)
);

CREATE TABLE z_reports (
    shop_id        TEXT NOT NULL,
    till_id        TEXT NOT NULL,
    z_number       BIGINT NOT NULL,
    seq            BIGINT NOT NULL,
    opened_at_ms   BIGINT NOT NULL,
    closed_at_ms   BIGINT NOT NULL,
    day            DATE NOT NULL,
    -- The till's figures (its Z report) and head office's own count of the
    -- same period from the journal, both JSON of ReportTotals.
    till_totals    TEXT NOT NULL,
    hq_totals      TEXT NOT NULL,
    till_net       BIGINT NOT NULL,
    hq_net         BIGINT NOT NULL,
    agrees         BOOLEAN NOT NULL,
    PRIMARY KEY (shop_id, till_id, z_number),
    FOREIGN KEY (shop_id, till_id, seq) REFERENCES journal (shop_id, till_id, seq)
);

-- Stock per shop, in thousandths of a unit (tillpoint_core::catalog::Qty),
-- and every movement that made it.
CREATE TABLE stock (
    shop_id    TEXT NOT NULL REFERENCES shops (id),
    sku        TEXT NOT NULL,
    qty_milli  BIGINT NOT NULL DEFAULT 0,
    reorder_at_milli BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (shop_id, sku)
);

CREATE TABLE stock_moves (
    id         BIGSERIAL PRIMARY KEY,
    shop_id    TEXT NOT NULL REFERENCES shops (id),
    sku        TEXT NOT NULL,
    qty_milli  BIGINT NOT NULL,
    reason     TEXT NOT NULL CHECK (reason IN ('sale', 'refund', 'void', 'received', 'adjusted')),
    -- The receipt for sales, refunds and voids; a note for the others.
    source     TEXT NOT NULL,
    at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX stock_moves_by_sku ON stock_moves (shop_id, sku, id);
