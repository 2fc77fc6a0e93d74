"""Dates as an operations back-office reads them: sortable, 24-hour, compact enough for wide lists.

Django's `en` formats ("Dec. 2, 2026, 6:50 p.m.") take a third of a list's width; these override
them for every admin page and template. The API and CSV write ISO 8601 and never use them.
"""

DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i:s"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
TIME_FORMAT = "H:i:s"
MONTH_DAY_FORMAT = "F j"
YEAR_MONTH_FORMAT = "F Y"
