/* name: feature_unit_costs */
/* description: Cost per request and per 1K output tokens by feature, and how much of the input came from the prompt cache. */
/* dialect: spark */
/* params: since DATE = 1970-01-01, until DATE = 9999-12-31 */
/* grain: feature */
SELECT
  COALESCE(feature, '(unattributed)') AS feature,
  SUM(requests) AS requests,
  SUM(cost_usd) AS cost_usd,
  SUM(cost_usd) / NULLIF(SUM(requests), 0) AS cost_per_request,
  1000 * SUM(cost_usd) / NULLIF(SUM(output_tokens), 0) AS cost_per_1k_output,
  SUM(input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens) / NULLIF(SUM(requests), 0) AS prompt_tokens_per_request,
  SUM(cache_read_tokens) / NULLIF(
    SUM(input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens),
    0
  ) AS cache_read_share
FROM requests
WHERE
  date BETWEEN CAST('2026-10-01' AS DATE) AND CAST('2026-10-31' AS DATE) AND priced
GROUP BY
  1
ORDER BY
  cost_usd DESC,
  feature NULLS LAST
