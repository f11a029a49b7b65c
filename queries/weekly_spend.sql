-- name: weekly_spend
-- description: Spend, requests and tokens by ISO week (Monday), feature and tier.
-- dialect: duckdb
-- params: since DATE = 1970-01-01, until DATE = 9999-12-31
-- grain: week x feature x tier
SELECT
  CAST(DATE_TRUNC('week', date) AS DATE) AS week,
  COALESCE(feature, '(unattributed)') AS feature,
  COALESCE(tier, '(other)') AS tier,
  SUM(requests) AS requests,
  SUM(cost_usd) AS cost_usd,
  SUM(CASE WHEN priced THEN 0 ELSE requests END) AS unpriced_requests,
  SUM(input_tokens) AS input_tokens,
  SUM(cache_read_tokens) AS cache_read_tokens,
  SUM(cache_write_5m_tokens + cache_write_1h_tokens) AS cache_write_tokens,
  SUM(output_tokens) AS output_tokens
FROM requests
WHERE date BETWEEN :since AND :until
GROUP BY 1, 2, 3
ORDER BY week, cost_usd DESC, feature, tier
