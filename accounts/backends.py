"""Permissions that follow from a person's role rather than from Django permission groups."""

from django.contrib.auth.backends import BaseBackend, ModelBackend

from accounts.tenancy import is_operator_staff


class OperatorSupportBackend(BaseBackend):
    """The operator's support staff may do everything in the admin (24/7 customer service).

    Which rows they act on is still decided by the admins (deletes disabled where history must stay) and every
    change is audited. Authentication itself is left to ModelBackend.
    """

    def get_user(self, user_id):
        # A session may name this backend (it is listed first, e.g. for force_login): load users as ModelBackend.
        return ModelBackend().get_user(user_id)

    def has_perm(self, user_obj, perm, obj=None):
        return user_obj.is_staff and is_operator_staff(user_obj)

    def has_module_perms(self, user_obj, app_label):
        return user_obj.is_staff and is_operator_staff(user_obj)
