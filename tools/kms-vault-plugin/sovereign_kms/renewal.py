# Copyright (c) sovereign.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Vault token's life: when to renew it, when to log in again (pure), and the manager doing it."""
import collections
import logging
import threading
import time

from sovereign_kms import vault

LOG = logging.getLogger("sovereign_kms.renewal")

# Renew when this share of the lease has passed: leaves a third of the TTL for retries.
RENEW_AT = 2.0 / 3.0
# Never use a token within this share of its lease (or 1 s) of expiry: log in first.
EXPIRY_MARGIN = 0.1
RETRY_MIN = 0.5
RETRY_MAX = 30.0

# obtained_at: monotonic time of the login/renewal; ttl: lease seconds (0 = never expires);
# login_ttl: the lease the last login gave (to notice a renewal capped by the max TTL).
Lease = collections.namedtuple("Lease", "obtained_at ttl renewable login_ttl")
# action: "login", "renew" or "none"; at: monotonic time to do it (None with "none").
Plan = collections.namedtuple("Plan", "action at")


def expires_at(lease):
    """Monotonic expiry time of ``lease``; None when it never expires."""
    return None if lease.ttl <= 0 else lease.obtained_at + lease.ttl


def usable(lease, now):
    """Whether a token with ``lease`` may still be sent at ``now`` (before the safety margin)."""
    if lease is None:
        return False
    end = expires_at(lease)
    return end is None or now < end - min(1.0, lease.ttl * EXPIRY_MARGIN)


def plan_next(lease, now):
    """What to do next with the token, and when."""
    if lease is None:
        return Plan("login", now)
    if lease.ttl <= 0:
        return Plan("none", None)
    at = lease.obtained_at + lease.ttl * RENEW_AT
    # A renewal shorter than the login's TTL has been capped by the token's max TTL: renewing
    # further only shortens it and then fails, so log in again instead.
    if not lease.renewable or lease.ttl < lease.login_ttl:
        return Plan("login", at)
    return Plan("renew", at)


def retry_delay(failures):
    """Back-off before retry number ``failures`` (1, 2, ...): 0.5 s doubling up to 30 s."""
    return min(RETRY_MAX, RETRY_MIN * (2 ** max(0, failures - 1)))


class TokenManager:
    """Holds the AppRole token, renews it in a background thread and logs in again when needed.

    ``read_credentials`` returns (role_id, secret_id); it is called at each login so a rotated
    secret_id file is picked up without a restart. Secrets are never logged.
    """

    def __init__(self, client, mount, read_credentials, clock=time.monotonic):
        self.client = client
        self.mount = mount
        self.read_credentials = read_credentials
        self.clock = clock
        self._lock = threading.Lock()
        self._token = None
        self._lease = None
        self._stop = threading.Event()
        self._thread = None
        self.last_error = None
        self._login_failures = 0
        self._next_login_at = 0.0
        self.logins = 0
        self.renewals = 0

    def token(self):
        """A usable token, logging in first when there is none or it is about to expire."""
        with self._lock:
            if not usable(self._lease, self.clock()):
                self._login_locked()
            return self._token

    def invalidate(self, token):
        """Forget ``token`` (Vault refused it) so that the next :meth:`token` logs in again."""
        with self._lock:
            if self._token == token:
                self._token, self._lease = None, None

    def _login_locked(self):
        now = self.clock()
        if self._login_failures and now < self._next_login_at:
            # Failed logins count towards Vault's lockout of the role: do not hammer it.
            raise self.last_error
        try:
            role_id, secret_id = self.read_credentials()
            token, ttl, renewable = self.client.approle_login(self.mount, role_id, secret_id)
        except vault.VaultError as exc:
            self._token, self._lease, self.last_error = None, None, exc
            self._login_failures += 1
            self._next_login_at = now + retry_delay(self._login_failures)
            LOG.error("AppRole login failed (%d in a row, next try in %.1fs): %s", self._login_failures,
                      self._next_login_at - now, exc)
            raise
        self._token = token
        self._lease = Lease(self.clock(), ttl, renewable, ttl)
        self.logins += 1
        self.last_error = None
        self._login_failures = 0
        LOG.info("logged in with AppRole at auth/%s: ttl=%ss renewable=%s", self.mount, ttl, renewable)

    def _renew_locked(self):
        token, ttl, renewable = self.client.renew_self(self._token)
        self._token = token
        self._lease = Lease(self.clock(), ttl, renewable, self._lease.login_ttl)
        self.renewals += 1
        LOG.info("renewed the Vault token: ttl=%ss renewable=%s", ttl, renewable)

    def maintain_once(self):
        """Do the planned action if it is due; the monotonic time of the next one (None: nothing)."""
        with self._lock:
            now = self.clock()
            plan = plan_next(self._lease, now)
            if plan.action == "none":
                return None
            if plan.at > now:
                return plan.at
            if plan.action == "renew":
                try:
                    self._renew_locked()
                except vault.VaultError as exc:
                    LOG.warning("token renewal failed (%s): logging in again", exc)
                    self._login_locked()
            else:
                self._login_locked()
            return plan_next(self._lease, self.clock()).at

    def _run(self):
        failures = 0
        while not self._stop.is_set():
            try:
                due = self.maintain_once()
                failures = 0
                delay = 30.0 if due is None else min(30.0, max(0.05, due - self.clock()))
            except vault.VaultError:
                failures += 1
                delay = max(retry_delay(failures), self._next_login_at - self.clock())
            except Exception:  # pylint: disable=broad-except  # the renewal thread must never die
                LOG.exception("unexpected error in the token renewal loop")
                failures += 1
                delay = retry_delay(failures)
            self._stop.wait(delay)

    def start(self):
        """Start the background renewal thread."""
        self._thread = threading.Thread(target=self._run, name="vault-token-renewal", daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
