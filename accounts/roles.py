"""Django permission groups that give an organization's people access to the admin, by role.

Board members (org admins) who also get staff status are placed in BOARD_ADMIN_GROUP; viewers in
BOARD_VIEWER_GROUP. What they then see is still narrowed to their own organizations (accounts.tenancy).
Apps that add models for boards extend these lists in their own data migration.
"""

BOARD_ADMIN_GROUP = "Organization administrators"
BOARD_VIEWER_GROUP = "Organization viewers"

ACCOUNTS_BOARD_ADMIN_PERMISSIONS = [
    "view_organization", "change_organization",
    "view_user", "add_user", "change_user",
    "view_membership", "add_membership", "change_membership", "delete_membership",
    "view_idtoken", "add_idtoken", "change_idtoken",
    "view_usergroup", "add_usergroup", "change_usergroup", "delete_usergroup",
    "view_apikey", "add_apikey", "change_apikey",
    "view_auditlogentry",
]
ACCOUNTS_BOARD_VIEWER_PERMISSIONS = [p for p in ACCOUNTS_BOARD_ADMIN_PERMISSIONS if p.startswith("view_")]
