"""Small OpenID provider for Kontor's tests (Authlib + joserfc + Flask), one process, in memory: an
implementation of the other side that is not Kontor's. Run: AUTHLIB_INSECURE_TRANSPORT=1 oidc_provider.py PORT [RS256|ES256|EdDSA]
(Tests/EndToEndTests/OIDCProviderEndToEndTests.swift starts it).
Flows: discovery, code+PKCE(S256, required), refresh, device grant (RFC 8628), JWKS with rotation.
Test control (/test/*): users and claims, key rotation, the next ID token's faults."""
import html, secrets, sys, time
from dataclasses import dataclass, field
from flask import Flask, jsonify, request
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc8628 import DeviceAuthorizationEndpoint, DeviceCodeGrant, DeviceCredentialDict
from authlib.oidc.core import OpenIDCode, OpenIDToken
from authlib.oidc.core.models import AuthorizationCodeMixin

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 19500
ISS = f"http://127.0.0.1:{PORT}"
GEN = {"RS256": lambda: RSAKey.generate_key(2048, private=True),
       "ES256": lambda: ECKey.generate_key("P-256", private=True),
       "EdDSA": lambda: OKPKey.generate_key("Ed25519", private=True)}

@dataclass
class Client(ClientMixin):
    client_id: str; secret: str | None; redirect_uris: list = field(default_factory=list)
    def get_client_id(self): return self.client_id
    def get_default_redirect_uri(self): return self.redirect_uris[0] if self.redirect_uris else None
    def get_allowed_scope(self, scope): return scope
    def check_redirect_uri(self, uri): return uri in self.redirect_uris
    def check_client_secret(self, s): return self.secret is not None and secrets.compare_digest(s, self.secret)
    def check_endpoint_auth_method(self, method, endpoint):
        return method == ("none" if self.secret is None else "client_secret_basic") or (self.secret and method == "client_secret_post")
    def check_response_type(self, t): return t == "code"
    def check_grant_type(self, g): return True

@dataclass
class Code(AuthorizationCodeMixin):
    code: str; client_id: str; redirect_uri: str; scope: str; sub: str; nonce: str | None
    challenge: str | None; method: str | None; auth_time: int = field(default_factory=lambda: int(time.time()))
    def get_redirect_uri(self): return self.redirect_uri
    def get_scope(self): return self.scope
    def get_nonce(self): return self.nonce
    def get_auth_time(self): return self.auth_time

S = dict(users={}, clients={}, codes={}, refresh={}, access={}, devices={}, grants={},
         keys=[], alg="RS256", fault={})     # fault: one-shot {aud, exp, iss, bad_sig, nonce, kid}

def rotate(alg, keep_old=True):
    k = GEN[alg](); k.ensure_kid(); S["alg"] = alg
    S["keys"] = ([k] + S["keys"][:1]) if keep_old else [k]   # current first, previous still published

class IDToken:  # shared by code / refresh / device grants
    def resolve_client_private_key(self, client): return S["keys"][0]
    def get_client_algorithm(self, client): return S["alg"]
    def get_encode_header(self, client): return {"alg": S["alg"], "kid": S["fault"].get("kid", S["keys"][0].kid)}
    def get_client_claims(self, client):
        f = S["fault"]; now = int(time.time())
        return {"iss": f.get("iss", ISS), "aud": f.get("aud", client.client_id), "exp": now + f.get("exp", 300)}
    def generate_user_info(self, user, scope): return dict(S["users"][user])
    def encode_id_token(self, token, req):
        f = S["fault"]; tok = super().encode_id_token(token, req); S["fault"] = {}
        if "nonce" in f:    # replay: re-sign with a given nonce (e.g. an old one)
            import joserfc.jwt as J
            c = J.decode(tok, S["keys"][0]).claims; c["nonce"] = f["nonce"]
            tok = J.encode(self.get_encode_header(None), c, S["keys"][0], [S["alg"]])
        if f.get("bad_sig"):
            h, p, s = tok.split("."); tok = f"{h}.{p}.{('A' if s[0] != 'A' else 'B') + s[1:]}"
        return tok
class MyOpenIDCode(IDToken, OpenIDCode):
    def exists_nonce(self, nonce, req): return any(c.nonce == nonce for c in S["codes"].values())
class MyOpenIDToken(IDToken, OpenIDToken): pass

class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    def save_authorization_code(self, code, req):
        d = req.payload.data
        S["codes"][code] = Code(code, req.client.client_id, req.payload.redirect_uri, req.payload.scope,
                                req.user, d.get("nonce"), d.get("code_challenge"), d.get("code_challenge_method"))
    def query_authorization_code(self, code, client):
        c = S["codes"].get(code); return c if c and c.client_id == client.client_id else None
    def delete_authorization_code(self, c): S["codes"].pop(c.code, None)
    def authenticate_user(self, c): return c.sub

class PKCE(CodeChallenge):   # Authlib requires PKCE of public clients only; here every client must send S256
    def validate_code_challenge(self, grant, redirect_uri):
        if grant.request.payload.data.get("code_challenge_method") != "S256": raise InvalidRequestError("PKCE S256 required")
        super().validate_code_challenge(grant, redirect_uri)
    def get_authorization_code_challenge(self, c): return c.challenge
    def get_authorization_code_challenge_method(self, c): return c.method

class RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True                      # rotate refresh tokens
    def authenticate_refresh_token(self, rt):
        r = S["refresh"].get(rt); return r if r and r["exp"] > time.time() else None
    def authenticate_user(self, r): return r["sub"]
    def revoke_old_credential(self, r): S["refresh"].pop(r["token"], None)

class RefreshRecord(dict):
    def check_client(self, c): return c.client_id == self["client_id"]
    def get_scope(self): return self["scope"]
    def is_expired(self): return self["exp"] < time.time()
    def is_revoked(self): return False

class DeviceGrant(DeviceCodeGrant):
    def query_device_credential(self, dc):
        d = S["devices"].get(dc); return DeviceCredentialDict(d) if d else None
    def query_user_grant(self, uc): return S["grants"].get(uc)
    def should_slow_down(self, cred): return False

class DeviceEndpoint(DeviceAuthorizationEndpoint):
    INTERVAL = 1
    def get_verification_uri(self): return ISS + "/device"
    def save_device_credential(self, client_id, scope, data):
        S["devices"][data["device_code"]] = dict(data, client_id=client_id, scope=scope,
                                                 expires_at=int(time.time()) + self.EXPIRES_IN)

def save_token(token, req):
    if "refresh_token" in token:
        S["refresh"][token["refresh_token"]] = RefreshRecord(token=token["refresh_token"], sub=req.user,
            client_id=req.client.client_id, scope=token.get("scope", ""), exp=time.time() + 3600)
    S["access"][token["access_token"]] = req.user

app = Flask(__name__)
app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = True
srv = AuthorizationServer(app, query_client=lambda cid: S["clients"].get(cid), save_token=save_token)
srv.register_grant(CodeGrant, [PKCE(required=True), MyOpenIDCode(require_nonce=True)])
srv.register_grant(RefreshGrant, [MyOpenIDToken()])
srv.register_grant(DeviceGrant, [MyOpenIDToken()])
srv.register_endpoint(DeviceEndpoint)

@app.get("/.well-known/openid-configuration")
def discovery():
    return jsonify(issuer=ISS, authorization_endpoint=ISS + "/authorize", token_endpoint=ISS + "/token",
        device_authorization_endpoint=ISS + "/device_authorization", jwks_uri=ISS + "/jwks",
        userinfo_endpoint=ISS + "/userinfo", end_session_endpoint=ISS + "/logout",
        response_types_supported=["code"], subject_types_supported=["public"],
        id_token_signing_alg_values_supported=list(GEN), code_challenge_methods_supported=["S256"],
        grant_types_supported=["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"])
@app.get("/jwks")
def jwks(): return jsonify(KeySet(S["keys"]).as_dict(private=False))
@app.route("/authorize", methods=["GET", "POST"])
def authorize():
    if request.method == "GET":   # a real page the browser test fills in
        try: srv.get_consent_grant(end_user=None)   # validates client, redirect_uri, PKCE, nonce
        except OAuth2Error as e: return jsonify(error=e.error, error_description=e.description), 400
        return (f'<form method="post"><input name="sub" id="sub"><button id="signin">Sign in</button></form>')
    sub = request.form["sub"]
    return srv.create_authorization_response(grant_user=sub if sub in S["users"] else None)
@app.route("/device", methods=["GET", "POST"])
def device():
    if request.method == "GET":
        uc = html.escape(request.args.get("user_code", ""))
        return f'<form method="post"><input name="user_code" value="{uc}"><input name="sub"><button>Allow</button></form>'
    f = request.form; S["grants"][f["user_code"]] = (f["sub"], f.get("deny") is None and f["sub"] in S["users"])
    return "done"
@app.post("/token")
def token(): return srv.create_token_response()
@app.post("/device_authorization")
def device_authorization(): return srv.create_endpoint_response("device_authorization")
@app.get("/userinfo")
def userinfo():
    sub = S["access"].get(request.headers.get("Authorization", "")[7:])
    return (jsonify(S["users"][sub]), 200) if sub else ("", 401)
# ---- test control ----
@app.put("/test/users/<sub>")
def put_user(sub): S["users"][sub] = dict(request.json, sub=sub); return "", 204
@app.put("/test/clients/<cid>")
def put_client(cid):
    b = request.json; S["clients"][cid] = Client(cid, b.get("secret"), b.get("redirect_uris", [])); return "", 204
@app.post("/test/rotate")
def post_rotate():
    b = request.json or {}; rotate(b.get("alg", S["alg"]), b.get("keep_old", True)); return jsonify(kids=[k.kid for k in S["keys"]])
@app.post("/test/revoke/<sub>")
def post_revoke(sub):   # the person's refresh tokens end (an account disabled at the provider)
    for k in [k for k, r in S["refresh"].items() if r["sub"] == sub]: S["refresh"].pop(k)
    return "", 204
@app.post("/test/fault")
def post_fault(): S["fault"] = request.json; return "", 204

if __name__ == "__main__":
    rotate(sys.argv[2] if len(sys.argv) > 2 else "RS256")
    app.run("127.0.0.1", PORT)
