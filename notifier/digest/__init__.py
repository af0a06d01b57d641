"""The digest: aggregate -> render -> send, once per digest and period.

**When.** Each digest's ``schedule`` is a cron expression on the wall clock of the digest's
time zone (its ``timezone``, else ``defaults.timezone``). A schedule that fires at most
once a day reports whole local days: the daily digest firing at 08:00 on day D reports the
local calendar day D-1, ``[D-1 00:00, D 00:00)`` (23 or 25 hours long on the days the
clocks change). Other schedules report ``[previous fire, this fire)``. See
:mod:`notifier.core.digest`.

**Once.** :meth:`DigestScheduler.tick` works out the latest period that is due and claims
``(digest, period start)`` in the store, whose primary key lets exactly one process win,
however many run. A digest missed while the service was down goes out once when it is
back: only the latest missed period, never a flood of old ones.

**Sending.** The report is rendered once for every kind of channel (email text and HTML,
Slack blocks, Teams card, JSON for webhooks) and handed to each channel of ``to``. A
retryable failure is tried again a few times within the run; the outcome of every
channel is recorded on the digest run. ``notifier digest --send --name N --date D``
sends a period again on purpose.

Modules: :mod:`~notifier.digest.scheduler` (when and once) and :mod:`~notifier.digest.report`
(rendering for every kind of channel). ``notifier digest`` lives with the command line
(:mod:`notifier.digest_cli`): it needs the whole service, which itself runs the scheduler.
"""

from notifier.digest.report import build_report
from notifier.digest.scheduler import DigestResult, DigestScheduler, digest_locale, digest_zone

__all__ = ["DigestResult", "DigestScheduler", "build_report", "digest_locale", "digest_zone"]
