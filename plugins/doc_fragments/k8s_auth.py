# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes connection options shared by the collection's modules (see module_utils/k8s_client.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file (several paths separated by V(:) are merged), or the kubeconfig itself as a dictionary.
      - When neither O(kubeconfig) nor O(host) is set, C($KUBECONFIG) or C(~/.kube/config) is used, and inside a pod the
        pod's service account.
      - Can also be set with the E(K8S_AUTH_KUBECONFIG) environment variable.
      - Its secrets are never logged or returned, whether it is a dictionary, a file or the default file - in each
        user the C(token), C(password), C(client-key-data), the content of C(tokenFile), the tokens and secrets of
        C(auth-provider.config) (C(id-token), C(refresh-token), C(access-token), C(client-secret)) and every
        C(exec.env) value, and a password in a C(server) or C(proxy-url) URL. The option is C(no_log) so that
        Ansible hides it whole until the module has read those secrets; after that only they are masked, and
        C(invocation) shows the rest of a dictionary kubeconfig.
      - A task that passes a kubeconfig dictionary should still set C(no_log), because Ansible itself shows a task's
        loop items and its templating errors, which the module cannot mask.
    type: raw
  context:
    description:
      - The context of the kubeconfig to use. Can also be set with E(K8S_AUTH_CONTEXT).
    type: str
  host:
    description:
      - URL of the Kubernetes API server, for example V(https://api.example.internal:6443).
      - Overrides the server of the kubeconfig. Can also be set with E(K8S_AUTH_HOST).
    type: str
  api_key:
    description:
      - Bearer token used to authenticate with the API. Never logged. Can also be set with E(K8S_AUTH_API_KEY).
    type: str
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate. When unset, the kubeconfig decides (it verifies by default).
      - Can also be set with E(K8S_AUTH_VERIFY_SSL).
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - Path to the CA certificate (full chain) that signed the API server's certificate.
      - Can also be set with E(K8S_AUTH_SSL_CA_CERT).
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Path to a client certificate to authenticate with the API. Can also be set with E(K8S_AUTH_CERT_FILE).
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Path to the private key of O(client_cert). Can also be set with E(K8S_AUTH_KEY_FILE).
    type: path
    aliases: [key_file]
  proxy:
    description:
      - URL of an HTTP proxy to reach the API through. Environment proxy variables are not used.
      - Can also be set with E(K8S_AUTH_PROXY).
    type: str
  request_timeout:
    description:
      - Seconds to wait for each API request before failing.
    type: int
    default: 30
requirements:
  - kubernetes (the official Kubernetes Python client)
notes:
  - The options follow the names of the C(kubernetes.core) modules, so the same E(K8S_AUTH_*) environment works for both.
"""
