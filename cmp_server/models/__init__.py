"""Tortoise models, one module per part of the platform, all imported here: Tortoise finds
them in this package (``db.MODELS``) and the rest of the code imports them from it. Stored enum
values (``method``, ``kind``, ``review_status``...) are only ever added to, never renamed:
receipts written years ago must still read back.

Receipts are append-only: no code path updates one; only the retention purge deletes.
"""

from .events import (
    Delivery,
    DeliveryAttempt,
    Event,
    MailPreference,
    MailSubscription,
    Revision,
    WebhookEndpoint,
)
from .receipts import (
    Checkpoint,
    ConsentDaily,
    ConsentReceipt,
    PurgeLog,
    ReceiptChainRepair,
    ReceiptLeaf,
    SigningKey,
    TreeNode,
)
from .scans import Scan, ScanJob, ScanSchedule
from .sites import (
    BlockingRule,
    ConfigVersion,
    InventoryItem,
    Logo,
    Purpose,
    Site,
    Vendor,
    vendor_sort,
)
from .staff import (
    ApiToken,
    ApiTokenSite,
    AuditEntry,
    InstallationSetting,
    PasswordReset,
    RecoveryCode,
    Staff,
    StaffSession,
    StaffSite,
)

__all__ = [
    "ApiToken",
    "ApiTokenSite",
    "AuditEntry",
    "BlockingRule",
    "Checkpoint",
    "ConfigVersion",
    "ConsentDaily",
    "ConsentReceipt",
    "Delivery",
    "DeliveryAttempt",
    "Event",
    "InstallationSetting",
    "InventoryItem",
    "Logo",
    "MailPreference",
    "MailSubscription",
    "PasswordReset",
    "Purpose",
    "PurgeLog",
    "ReceiptChainRepair",
    "ReceiptLeaf",
    "RecoveryCode",
    "Revision",
    "Scan",
    "ScanJob",
    "ScanSchedule",
    "SigningKey",
    "Site",
    "Staff",
    "StaffSession",
    "StaffSite",
    "TreeNode",
    "Vendor",
    "WebhookEndpoint",
    "vendor_sort",
]
