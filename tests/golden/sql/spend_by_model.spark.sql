/* name: spend_by_model */
/* description: Spend and requests by period (day, ISO week or month) and normalized model id, with the spend billed at batch and priority tiers. */
/* dialect: spark */
/* params: since DATE = 1970-01-01, until DATE = 9999-12-31, grain STRING(day|week|month) = week */
/* grain: period x model_id */
SELECT
  CAST(DATE_TRUNC('week', date) AS DATE) AS period,
  model_id,
  SUM(requests) AS requests,
  SUM(cost_usd) AS cost_usd,
  SUM(CASE WHEN service_tier = 'batch' THEN cost_usd ELSE 0 END) AS batch_cost_usd,
  SUM(CASE WHEN service_tier = 'priority' THEN cost_usd ELSE 0 END) AS priority_cost_usd,
  SUM(CASE WHEN priced THEN 0 ELSE requests END) AS unpriced_requests
FROM requests
WHERE
  date BETWEEN CAST('2026-10-01' AS DATE) AND CAST('2026-10-31' AS DATE)
GROUP BY
  1,
  2
ORDER BY
  period NULLS LAST,
  cost_usd DESC,
  model_id NULLS LAST
