/* name: daily_spend */
/* description: Spend and requests per day and feature (the input of anomaly baselines and forecasts). */
/* dialect: bigquery */
/* params: since DATE = 1970-01-01, until DATE = 9999-12-31 */
/* grain: date x feature */
SELECT
  date,
  COALESCE(feature, '(unattributed)') AS feature,
  SUM(requests) AS requests,
  SUM(cost_usd) AS cost_usd
FROM requests
WHERE
  date BETWEEN CAST('2026-10-01' AS DATE) AND CAST('2026-10-31' AS DATE)
GROUP BY
  1,
  2
ORDER BY
  date NULLS LAST,
  feature NULLS LAST
