"""Invite mail over TLS to a real aiosmtpd (issue 25, point 5): STARTTLS with AUTH PLAIN and AUTH LOGIN, implicit TLS
(the port-465 style, `smtps://`), certificates Tally must not trust, and STARTTLS asked for but not offered.

Each test makes a throwaway CA and a server certificate for 127.0.0.1 (the `cryptography` package) and points Tally at
the CA with TALLY_SMTP_CA_FILE (the PEM certificates Tally trusts for the relay instead of the system's roots). The
server logs at trace level, the most it ever says, and the relay's password must appear nowhere in it, in no encoding.

The invite API answers only after the send has finished or failed (`"mailed": true|false`), so nothing here waits for
mail that might still arrive: what the relay has seen when the answer comes is everything it will ever see."""
import base64
import datetime
import ipaddress
import os
import ssl
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conftest import MailSink, free_port, signed_in

USER = "relay-user@example.test"
PASSWORD = "Relay-Pa55word-7f3a9c1e"  # URL-safe: it goes into TALLY_SMTP_URL as it is
SENDER = "tally@example.test"

# Some relays here take AUTH without TLS on purpose (so that only Tally's own refusal keeps the password back).
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


# ---------------------------------------------------------------------------------------------------------------
# A throwaway PKI, made at test time

def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


class CA:
    """A self-signed certificate authority that issues server certificates."""

    def __init__(self, directory, common_name):
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder()
                     .subject_name(_name(common_name)).issuer_name(_name(common_name))
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(hours=1))
                     .not_valid_after(now + datetime.timedelta(days=2))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                     .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                  content_commitment=False, key_encipherment=False,
                                                  data_encipherment=False, key_agreement=False, encipher_only=False,
                                                  decipher_only=False), critical=True)
                     .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
                     .sign(self.key, hashes.SHA256()))
        self.pem_path = _write(os.path.join(directory, common_name.replace(" ", "-") + ".pem"),
                               self.cert.public_bytes(serialization.Encoding.PEM))

    def server_context(self, ip="127.0.0.1", dns=None):
        """An ssl server context with a certificate this CA issued for `ip` (and/or the host name `dns`)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        names = ([x509.IPAddress(ipaddress.ip_address(ip))] if ip else []) + ([x509.DNSName(dns)] if dns else [])
        cert = (x509.CertificateBuilder()
                .subject_name(_name(dns or ip)).issuer_name(self.cert.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName(names), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                               critical=False)
                .sign(self.key, hashes.SHA256()))
        tag = os.urandom(4).hex()
        cert_path = _write(os.path.join(self.directory, f"server-{tag}.pem"),
                           cert.public_bytes(serialization.Encoding.PEM))
        key_path = _write(os.path.join(self.directory, f"server-{tag}.key"), key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_path, key_path)
        return ctx


@pytest.fixture
def pki(tmp_path):
    """Two unrelated CAs: `trusted` (what TALLY_SMTP_CA_FILE names) and `stranger`."""
    class PKI:
        trusted = CA(str(tmp_path), "Tally Test Relay CA")
        stranger = CA(str(tmp_path), "Some Other CA")
    return PKI


# ---------------------------------------------------------------------------------------------------------------
# A real SMTP relay that remembers how it was spoken to

class Relay(MailSink):
    """aiosmtpd with AUTH: records every AUTH attempt and MAIL command, and whether TLS protected it."""

    def __init__(self):
        super().__init__(free_port())
        self.auth_attempts = []  # {"mechanism", "login", "password", "tls"}
        self.mail_commands = []  # {"from", "tls", "authenticated"}
        self.controller = None

    @staticmethod
    def _tls(server):
        return server.transport is not None and server.transport.get_extra_info("ssl_object") is not None

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        self.auth_attempts.append({"mechanism": mechanism, "login": auth_data.login.decode(),
                                   "password": auth_data.password.decode(), "tls": self._tls(server)})
        ok = auth_data.login.decode() == USER and auth_data.password.decode() == PASSWORD
        return AuthResult(success=ok, handled=False)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.mail_commands.append({"from": address, "tls": self._tls(server), "authenticated": session.authenticated})
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    def start(self, **smtp_kwargs):
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, authenticator=self.authenticator,
                                     auth_required=True, **smtp_kwargs)
        self.controller.start()
        return self

    def stop(self):
        if self.controller:
            self.controller.stop()


@pytest.fixture
def relays():
    started = []

    def start(**smtp_kwargs):
        relay = Relay().start(**smtp_kwargs)
        started.append(relay)
        return relay
    yield start
    for relay in started:
        relay.stop()


# ---------------------------------------------------------------------------------------------------------------
# Helpers

def smtp_url(relay, scheme="smtp", starttls=True):
    query = f"?from={SENDER}" + ("&starttls=true" if starttls else "")
    return f"{scheme}://{USER.replace('@', '%40')}:{PASSWORD}@127.0.0.1:{relay.port}{query}"


def serve(site, url, ca_file):
    env = {"TALLY_SMTP_URL": url, "TALLY_LOG_LEVEL": "trace", "TALLY_PUBLIC_URL": "https://tally.example.test"}
    if ca_file is not None:
        env["TALLY_SMTP_CA_FILE"] = ca_file
    return site.serve(**env)


def invite(server, email):
    owner = signed_in(server)
    r = owner.api("POST", "/api/v1/invites", json={"email": email, "role": "viewer"})
    assert r.status_code == 201, r.text
    return r.json()


def secret_forms():
    """The password as it could leak: itself, base64 alone (AUTH LOGIN), and the AUTH PLAIN token."""
    plain = base64.b64encode(b"\0" + USER.encode() + b"\0" + PASSWORD.encode()).decode()
    return [PASSWORD, base64.b64encode(PASSWORD.encode()).decode(), plain]


def assert_no_secret_logged(site):
    logs = site.logs()
    assert "SMTP" in logs or "smtp" in logs, "the trace log says nothing about SMTP: is the level applied?"
    for secret in secret_forms():
        assert secret not in logs, f"the relay password leaked into the log as {secret!r}"


def wait_for_log(site, needle, timeout=10):
    """The servers' log once it holds `needle` (log lines may reach the file just after the API answered)."""
    deadline = time.monotonic() + timeout
    while True:
        logs = site.logs()
        if needle in logs or time.monotonic() > deadline:
            return logs
        time.sleep(0.05)


def assert_delivered(site, relay, body, rcpt, mechanism):
    assert body["mailed"] is True, (body, site.logs()[-3000:])
    mails = relay.wait_for(1, timeout=0)  # the answer came after the relay accepted the message
    assert len(mails) == 1, mails
    assert mails[0]["rcpt_tos"] == [rcpt] and mails[0]["mail_from"] == SENDER
    assert body["url"] in mails[0]["text"], mails[0]["text"]
    assert relay.auth_attempts == [{"mechanism": mechanism, "login": USER, "password": PASSWORD, "tls": True}], \
        relay.auth_attempts
    assert relay.mail_commands == [{"from": SENDER, "tls": True, "authenticated": True}], relay.mail_commands


def assert_refused(site, relay, body, reason):
    assert body["mailed"] is False, body
    assert relay.messages == [], "a message was delivered"
    assert relay.mail_commands == [], "the message was started (MAIL FROM)"
    assert relay.auth_attempts == [], "the credentials were sent"
    logs = wait_for_log(site, "could not mail the invite")
    lines = [line for line in logs.splitlines() if "could not mail the invite" in line]
    assert len(lines) == 1, "the failure is logged once, as a warning: " + logs[-3000:]
    assert reason.lower() in lines[0].lower(), lines[0]
    print("logged:", lines[0].split(" warning ", 1)[-1])
    assert_no_secret_logged(site)
    return lines[0]


# ---------------------------------------------------------------------------------------------------------------
# Delivery

@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_starttls_then_auth_delivers_the_invite(sqlite_site, pki, relays, mechanism):
    # The relay offers AUTH only after STARTTLS and refuses mail before it, like a submission port; without PLAIN,
    # Tally must fall back to LOGIN.
    relay = relays(tls_context=pki.trusted.server_context(), require_starttls=True, auth_require_tls=True,
                   auth_exclude_mechanism=[] if mechanism == "PLAIN" else ["PLAIN"])
    server = serve(sqlite_site, smtp_url(relay), pki.trusted.pem_path)
    body = invite(server, "tess@example.test")
    assert_delivered(sqlite_site, relay, body, "tess@example.test", mechanism)
    assert_no_secret_logged(sqlite_site)


def test_implicit_tls_delivers_the_invite(sqlite_site, pki, relays):
    # smtps:// speaks TLS from the first byte: a relay that only speaks TLS (ssl_context on the listening socket).
    # aiosmtpd counts only STARTTLS as TLS for auth_require_tls, so it is off here; the relay records that AUTH came
    # over TLS all the same (the transport's ssl_object), and assert_delivered checks it.
    relay = relays(ssl_context=pki.trusted.server_context(), auth_require_tls=False)
    server = serve(sqlite_site, smtp_url(relay, scheme="smtps", starttls=False), pki.trusted.pem_path)
    body = invite(server, "ivy@example.test")
    assert_delivered(sqlite_site, relay, body, "ivy@example.test", "PLAIN")
    assert_no_secret_logged(sqlite_site)


# ---------------------------------------------------------------------------------------------------------------
# Refusals: nothing is sent, the reason is logged, the password is not

@pytest.mark.parametrize("mode,trust,reason", [
    # No TALLY_SMTP_CA_FILE: the system's roots do not know the throwaway CA.
    ("starttls", "system", "CERTIFICATE_VERIFY_FAILED"),
    # TALLY_SMTP_CA_FILE names a CA, but the relay's certificate comes from another one.
    ("starttls", "stranger", "CERTIFICATE_VERIFY_FAILED"),
    ("tls", "stranger", "CERTIFICATE_VERIFY_FAILED"),
    # The right CA, but the certificate is for another host than the one Tally connects to.
    ("starttls", "wrong-name", "hostname"),
    ("tls", "wrong-name", "hostname"),
])
def test_a_relay_certificate_that_is_not_trusted_is_refused(sqlite_site, pki, relays, mode, trust, reason):
    issuer = pki.trusted if trust in ("system", "wrong-name") else pki.stranger
    ctx = issuer.server_context(ip=None, dns="mail.elsewhere.test") if trust == "wrong-name" else issuer.server_context()
    # auth_require_tls=False: the relay would even take the password in plain text, so only Tally's refusal
    # keeps it from being sent.
    kwargs = {"tls_context": ctx} if mode == "starttls" else {"ssl_context": ctx}
    relay = relays(auth_require_tls=False, **kwargs)
    url = smtp_url(relay) if mode == "starttls" else smtp_url(relay, scheme="smtps", starttls=False)
    server = serve(sqlite_site, url, None if trust == "system" else pki.trusted.pem_path)
    body = invite(server, "una@example.test")
    assert_refused(sqlite_site, relay, body, reason)


def test_starttls_required_but_not_offered_is_refused_without_sending_the_password(sqlite_site, pki, relays):
    # A relay (or a man in the middle stripping the STARTTLS line) that offers AUTH in plain text and no STARTTLS.
    relay = relays(auth_require_tls=False)
    server = serve(sqlite_site, smtp_url(relay, starttls=True), pki.trusted.pem_path)
    body = invite(server, "nora@example.test")
    assert_refused(sqlite_site, relay, body, "does not offer STARTTLS")


# ---------------------------------------------------------------------------------------------------------------
# TALLY_SMTP_CA_FILE itself

@pytest.mark.parametrize("content", ["missing", "no-certificate"])
def test_an_unusable_ca_file_stops_start_up(sqlite_site, tmp_path, relays, content):
    relay = relays(auth_require_tls=False)
    path = str(tmp_path / "ca.pem")
    if content == "no-certificate":
        _write(path, b"this is not a PEM certificate\n")
    server = sqlite_site.serve(wait=False, TALLY_SMTP_URL=smtp_url(relay), TALLY_SMTP_CA_FILE=path)
    assert server.proc.wait(timeout=60) == 1
    logs = sqlite_site.logs()
    assert "TALLY_SMTP_CA_FILE" in logs and path in logs, logs[-2000:]
    assert PASSWORD not in logs
