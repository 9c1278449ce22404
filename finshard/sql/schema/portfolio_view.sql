-- Seed 003's portfolio view plus market value at the latest quote. positions and accounts are
-- colocated; users and instruments are reference tables, so Citus pushes the join down to each shard.
CREATE OR REPLACE VIEW finshard.portfolio_view AS
SELECT a.account_id,
       a.account_number,
       u.user_id,
       u.username,
       i.instrument_id,
       i.symbol,
       p.quantity,
       p.average_price,
       p.unrealized_pnl,
       p.realized_pnl,
       p.quantity * p.average_price AS position_value,
       (i.bid_price + i.ask_price) / 2 AS market_price,
       p.quantity * (i.bid_price + i.ask_price) / 2 AS market_value
  FROM finshard.positions p
  JOIN finshard.accounts a ON a.account_id = p.account_id
  JOIN finshard.users u ON u.user_id = a.user_id
  JOIN finshard.instruments i ON i.instrument_id = p.instrument_id
 WHERE p.quantity <> 0;
COMMENT ON VIEW finshard.portfolio_view IS 'Open positions with cost and market value at the latest quote mid (seed 003)';
