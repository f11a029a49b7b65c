/* name: unpriced_models */
/* description: Models with requests tierlens could not price in the window (an alert rule: every row is a violation). */
/* dialect: bigquery */
/* params: since DATE = 1970-01-01, until DATE = 9999-12-31 */
/* grain: model */
SELECT
  model,
  COALESCE(feature, '(unattributed)') AS feature,
  SUM(requests) AS requests,
  MIN(date) AS first_seen,
  MAX(date) AS last_seen
FROM requests
WHERE
  date BETWEEN CAST('2026-10-01' AS DATE) AND CAST('2026-10-31' AS DATE)
  AND NOT priced
GROUP BY
  1,
  2
ORDER BY
  requests DESC,
  model NULLS LAST,
  feature NULLS LAST
