# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Connection and authentication options shared by every sovereign.cluster vault_* module."""

    DOCUMENTATION = r'''
options:
  url:
    description:
      - URL of the Vault or OpenBao server, for example C(https://vault.example:8200).
      - When not set, the C(VAULT_ADDR) environment variable is used, then C(BAO_ADDR).
      - Required by one of these means.
    type: str
  auth_method:
    description:
      - How the module authenticates.
      - C(token) uses O(token).
      - C(approle) logs in with O(role_id) and O(secret_id) at the AppRole mount O(auth_mount_point).
    type: str
    choices: [token, approle]
    default: token
  token:
    description:
      - Vault/OpenBao token used when O(auth_method=token).
      - When not set, the C(VAULT_TOKEN) environment variable is used, then C(BAO_TOKEN).
      - Never logged (C(no_log)).
    type: str
  role_id:
    description:
      - AppRole role ID, required when O(auth_method=approle). Never logged.
    type: str
  secret_id:
    description:
      - AppRole secret ID, required when O(auth_method=approle). Never logged.
    type: str
  auth_mount_point:
    description:
      - Mount path of the AppRole auth method.
    type: str
    default: approle
  namespace:
    description:
      - Vault Enterprise / OpenBao namespace to work in.
      - When not set, the C(VAULT_NAMESPACE) environment variable is used, then C(BAO_NAMESPACE).
    type: str
  ca_cert:
    description:
      - Path to the PEM file of the CA that signed the server certificate.
      - When not set, the C(VAULT_CACERT) environment variable is used, then C(BAO_CACERT).
      - When set, it takes precedence over O(validate_certs).
    type: str
  validate_certs:
    description:
      - Verify the server's TLS certificate against the system CAs (or O(ca_cert)).
      - Set to V(false) only in a throw-away lab.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for the server to answer each request.
    type: int
    default: 30
requirements:
  - hvac >= 1.0 (Python library, on the host that runs the module, normally the controller)
notes:
  - Errors say what to do. A sealed server, an unreachable URL, a TLS failure, a token without
    permission (403) and a missing engine mount each give their own message.
  - Works with HashiCorp Vault and OpenBao through their common HTTP API.
'''
