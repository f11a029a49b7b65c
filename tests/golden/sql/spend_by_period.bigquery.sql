/* name: spend_by_period */
/* description: Spend, requests and tokens by period (day, ISO week from Monday, or month), feature and tier. */
/* dialect: bigquery */
/* params: since DATE = 1970-01-01, until DATE = 9999-12-31, grain STRING(day|week|month) = week */
/* grain: period x feature x tier */
SELECT
  CAST(TIMESTAMP_TRUNC(date, WEEK(MONDAY)) AS DATE) AS period,
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
WHERE
  date BETWEEN CAST('2026-10-01' AS DATE) AND CAST('2026-10-31' AS DATE)
GROUP BY
  1,
  2,
  3
ORDER BY
  period NULLS LAST,
  cost_usd DESC,
  feature NULLS LAST,
  tier NULLS LAST
