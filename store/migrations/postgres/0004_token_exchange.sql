-- RFC 8693 token exchange: a client's exchange policy (JSON of
-- model::ExchangePolicy), absent for clients that may not exchange tokens.
-- Keep in step with ../sqlite/0004_token_exchange.sql.
ALTER TABLE clients ADD COLUMN token_exchange TEXT;
