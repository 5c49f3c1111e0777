# Copyright (c) sovereign.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sovereign-kms-vault: a Kubernetes KMS v2 plugin backed by a Vault/OpenBao transit key."""

__version__ = "0.1.0"

# The KMS API version this plugin speaks; it must match the EncryptionConfiguration's kms.apiVersion.
KMS_API_VERSION = "v2"
