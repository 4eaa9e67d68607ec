"""Load balancing admin pages: power groups as a tree with what each fuse carries now, the live allocation of a
group's EVSEs, a "simulate" page that asks the engine without writing anything, the "Recompute now" action, and
read-only lists of building meter readings and EVSE allocations.

Everything is narrowed to the organizations the user may see; board administrators of the owner change their own
groups, viewers only look; every change goes through AuditedAdmin with a reason.
"""

from dataclasses import dataclass
from decimal import Decimal

from django import forms
from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Case, IntegerField, Value, When
from django.http import Http404, HttpRequest
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.admin_base import AuditedAdmin, TenantScopedAdmin, TenantScopedInline, action_with_reason
from accounts.models import UserGroup
from accounts.tenancy import can_manage, scope
from charging.admin.base import ChargingChoicesMixin, ReadOnlyAdminMixin
from charging.models import ChargingSession, Evse
from loadbalancing import engine, services
from loadbalancing.models import EvseAllocation, EvseWiring, GridMeterReading, GroupPriority, Mode, PowerGroup

_ZERO = Decimal(0)
_AMPS = {"max_digits": 7, "decimal_places": 1, "min_value": _ZERO, "max_value": Decimal(10_000)}
_TREE_CACHE = "_loadbalancing_tree"


# --- The tree ---------------------------------------------------------------------------------------------------------


def _descendant_ids(group_id: int) -> set[int]:
    """Every group below ``group_id``, active or not (an inactive one can still close a loop)."""
    found: set[int] = set()
    frontier = {group_id}
    while frontier:
        frontier = set(PowerGroup.objects.filter(parent_id__in=frontier).values_list("pk", flat=True)) - found
        frontier.discard(group_id)
        found |= frontier
    return found


def _root_of(group: PowerGroup) -> PowerGroup:
    """The main fuse above ``group``; its mode, minimum and failsafe apply to the whole tree."""
    seen = {group.pk}
    while group.parent_id is not None and group.parent_id not in seen:
        group = PowerGroup.objects.get(pk=group.parent_id)
        seen.add(group.pk)
    return group


@dataclass
class _TreeRow:
    depth: int
    evses: int
    sessions: int
    allocated: list[Decimal]


def _tree_rows(request: HttpRequest) -> tuple[list[int], dict[int, _TreeRow]]:
    """The visible groups in tree order (each root, then its children by name, depth first) and, per group, what
    its subtree carries: wired EVSEs, active sessions and the allocated amperes per grid phase. Cached per request."""
    cached = getattr(request, _TREE_CACHE, None)
    if cached is not None:
        return cached
    groups = list(scope(PowerGroup.objects.all(), request.user).values_list("pk", "parent_id", "name",
                                                                             "organization__name"))
    visible = {pk for pk, *_rest in groups}
    children: dict[int | None, list[tuple]] = {}
    for row in groups:
        # A group whose parent the user cannot see is shown as a root.
        children.setdefault(row[1] if row[1] in visible else None, []).append(row)
    order: list[int] = []
    depth: dict[int, int] = {}
    stack = [(row, 0) for row in sorted(children.get(None, []), key=lambda r: (r[3], r[2], r[0]), reverse=True)]
    while stack:
        (pk, _parent, _name, _org), level = stack.pop()
        if pk in depth:
            continue
        order.append(pk)
        depth[pk] = level
        stack += [(row, level + 1) for row in sorted(children.get(pk, []), key=lambda r: (r[2], r[0]), reverse=True)]
    # Groups in a loop in the database have no root: list them at the end rather than hide them.
    for pk, *_rest in groups:
        if pk not in depth:
            order.append(pk)
            depth[pk] = 0

    parents = {pk: parent for pk, parent, *_rest in groups}
    wirings = list(EvseWiring.objects.filter(group_id__in=visible))
    allocations = dict(EvseAllocation.objects.filter(evse_id__in=[w.evse_id for w in wirings])
                       .values_list("evse_id", "limit"))
    charging = set(ChargingSession.objects.filter(evse_id__in=[w.evse_id for w in wirings],
                                                  status=ChargingSession.Status.ACTIVE, stopped_at__isnull=True)
                   .values_list("evse_id", flat=True))
    rows = {pk: _TreeRow(depth=depth[pk], evses=0, sessions=0, allocated=[_ZERO, _ZERO, _ZERO]) for pk in order}
    for wiring in wirings:
        group_id, seen = wiring.group_id, set()
        while group_id is not None and group_id in rows and group_id not in seen:
            seen.add(group_id)
            row = rows[group_id]
            row.evses += 1
            row.sessions += wiring.evse_id in charging
            for phase in wiring.grid_phases():
                row.allocated[phase - 1] += allocations.get(wiring.evse_id) or _ZERO
            group_id = parents.get(group_id)
    result = (order, rows)
    setattr(request, _TREE_CACHE, result)
    return result


def _amps(value: Decimal | None) -> str:
    return "–" if value is None else number_format(value, 1)


def _phases(values) -> str:
    return " / ".join(_amps(value) for value in values)


# --- Forms and inlines ------------------------------------------------------------------------------------------------


class PowerGroupForm(forms.ModelForm):
    """Checks that the tree stays a tree of one owner: the parent (and site) belong to the group's organization and
    the parent is neither the group itself nor anything below it."""

    class Meta:
        model = PowerGroup
        fields = ["organization", "parent", "location", "name", "limit_l1", "limit_l2", "limit_l3", "mode",
                  "failsafe_limit", "min_current", "hysteresis", "grid_reading_max_age", "schedule", "is_active"]

    def clean(self):
        data = super().clean()
        organization = data.get("organization") or (self.instance.organization if self.instance.organization_id
                                                    else None)
        parent, location = data.get("parent"), data.get("location")
        if organization is not None and parent is not None and parent.organization_id != organization.pk:
            self.add_error("parent", _("The group it is fed from must belong to the same owner."))
        if organization is not None and location is not None and location.organization_id != organization.pk:
            self.add_error("location", _("The site must belong to the same owner."))
        if parent is not None and self.instance.pk is not None and (
                parent.pk == self.instance.pk or parent.pk in _descendant_ids(self.instance.pk)):
            self.add_error("parent", _("%(parent)s is this group or fed from it: that would make a loop in the fuse "
                                       "tree.") % {"parent": parent})
        return data


class _WriteOnOwnOrganization:
    """Change and delete only where the user is an administrator of the group's owner (viewers only look)."""

    def _may_write(self, request, obj) -> bool:
        group = obj if obj is None or isinstance(obj, PowerGroup) else obj.group
        return group is None or group.organization_id is None or can_manage(request.user, group.organization_id)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._may_write(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._may_write(request, obj)

    def has_add_permission(self, request, obj=None):
        allowed = super().has_add_permission(request, obj) if isinstance(self, admin.options.InlineModelAdmin) \
            else super().has_add_permission(request)
        return allowed and self._may_write(request, obj)


class _OwnerFormSet(forms.BaseInlineFormSet):
    """Each inline row must point at something of the power group's owner."""

    fk_target: str = ""
    owner_path: str = ""

    def clean(self):
        super().clean()
        owner = self.instance.organization_id
        for form in self.forms:
            target = form.cleaned_data.get(self.fk_target) if hasattr(form, "cleaned_data") else None
            if target is None or form.cleaned_data.get("DELETE") or owner is None:
                continue
            if _organization_of(target, self.owner_path) != owner:
                form.add_error(self.fk_target, _("%(target)s does not belong to the power group's owner.")
                               % {"target": target})


def _organization_of(obj, path: str) -> int | None:
    for name in path.split("__"):
        obj = getattr(obj, name)
    return obj.pk if obj is not None else None


class _WiringFormSet(_OwnerFormSet):
    fk_target, owner_path = "evse", "charge_point__organization"


class _PriorityFormSet(_OwnerFormSet):
    fk_target, owner_path = "user_group", "organization"


class _OwnerChoicesInline(_WriteOnOwnOrganization, TenantScopedInline):
    organization_field = "group__organization"
    extra = 0

    def get_formset(self, request, obj=None, **kwargs):
        request._loadbalancing_group = obj  # the owner narrows the choice lists below
        return super().get_formset(request, obj, **kwargs)

    def _owner_choices(self, request, queryset, path: str):
        queryset = scope(queryset, request.user, path)
        group = getattr(request, "_loadbalancing_group", None)
        return queryset.filter(**{path: group.organization_id}) if group is not None else queryset


class EvseWiringInline(ChargingChoicesMixin, _OwnerChoicesInline):
    model = EvseWiring
    formset = _WiringFormSet
    fields = ["evse", "phases", "rotation", "max_current", "priority", "fixed_limit"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "evse":
            field.queryset = self._owner_choices(request, Evse.objects.select_related("charge_point"),
                                                 "charge_point__organization")
        return field


class GroupPriorityInline(_OwnerChoicesInline):
    model = GroupPriority
    formset = _PriorityFormSet
    fields = ["user_group", "priority"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user_group":
            kwargs["queryset"] = self._owner_choices(request, UserGroup.objects.all(), "organization")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


# --- Simulation -------------------------------------------------------------------------------------------------------


class SimulateForm(forms.Form):
    """One row per wired EVSE of the group's subtree, plus the building's other load on the group's feed."""

    external_l1 = forms.DecimalField(label=gettext_lazy("Other load L1 (A)"), required=False, **_AMPS)
    external_l2 = forms.DecimalField(label=gettext_lazy("Other load L2 (A)"), required=False, **_AMPS)
    external_l3 = forms.DecimalField(label=gettext_lazy("Other load L3 (A)"), required=False, **_AMPS)

    def __init__(self, *args, wirings: list[EvseWiring], **kwargs):
        super().__init__(*args, **kwargs)
        self.wirings = wirings
        for wiring in wirings:
            pk = wiring.evse_id
            self.fields[f"charging_{pk}"] = forms.BooleanField(label=gettext_lazy("car charging"), required=False)
            self.fields[f"measured_{pk}"] = forms.DecimalField(label=gettext_lazy("measured (A)"), required=False,
                                                               **_AMPS)
            self.fields[f"max_{pk}"] = forms.DecimalField(label=gettext_lazy("maximum (A)"),
                                                          initial=wiring.max_current, **_AMPS)

    def rows(self):
        return [{"wiring": wiring, "charging": self[f"charging_{wiring.evse_id}"],
                 "measured": self[f"measured_{wiring.evse_id}"], "max": self[f"max_{wiring.evse_id}"]}
                for wiring in self.wirings]

    def external(self) -> tuple[Decimal, Decimal, Decimal]:
        return tuple(self.cleaned_data.get(f"external_l{phase}") or _ZERO for phase in (1, 2, 3))


def _simulate(group: PowerGroup, form: SimulateForm, now) -> dict:
    """Ask the engine what it would allocate in ``group``'s subtree for the sessions in ``form``; writes nothing."""
    root = _root_of(group)
    mode = engine.Mode(root.mode)
    groups = services.tree(group)
    engine_groups = [engine.Group(
        id=str(item.pk), parent=str(item.parent_id) if item is not group else None,
        limit=services.scheduled_limits(item, now) if mode == engine.Mode.STATIC else item.limits,
        external_load=form.external() if item is group else (_ZERO, _ZERO, _ZERO)) for item in groups]
    in_tree = {item.pk for item in groups}
    demands = []
    for order, wiring in enumerate(form.wirings):
        pk = wiring.evse_id
        if wiring.group_id not in in_tree or not form.cleaned_data.get(f"charging_{pk}"):
            continue
        cap = form.cleaned_data[f"max_{pk}"]
        if mode == engine.Mode.STATIC and wiring.fixed_limit is not None:
            cap = min(cap, wiring.fixed_limit)
        measured = form.cleaned_data.get(f"measured_{pk}")
        demands.append(engine.Demand(evse=str(pk), group=str(wiring.group_id), wiring=wiring.grid_phases(),
                                     max_current=cap, min_current=root.min_current, priority=wiring.priority,
                                     measured=measured if mode != engine.Mode.STATIC else None,
                                     started_order=order))
    allocation = engine.allocate(groups=engine_groups, demands=demands, mode=mode)
    paused = set(allocation.paused)
    evses = [{"wiring": wiring, "limit": allocation.limits[str(wiring.evse_id)],
              "paused": str(wiring.evse_id) in paused}
             for wiring in form.wirings if str(wiring.evse_id) in allocation.limits]
    limits = {item.pk: engine_group.limit for item, engine_group in zip(groups, engine_groups, strict=True)}
    loads = [{"group": item, "phases": [{"phase": f"L{index + 1}", "load": allocation.group_load[str(item.pk)][index],
                                         "limit": limits[item.pk][index],
                                         "headroom": allocation.headroom[str(item.pk)][index]}
                                        for index in range(3)]}
             for item in groups]
    return {"mode": Mode(root.mode).label, "evses": evses, "loads": loads}


# --- Recompute --------------------------------------------------------------------------------------------------------


def _recompute(group: PowerGroup, request: HttpRequest, reason: str) -> str | None:
    if not can_manage(request.user, group.organization_id):
        raise ValidationError(_("You may look at this power group but not recompute it."))
    root = _root_of(group)
    queued = request.__dict__.setdefault("_loadbalancing_queued", set())
    if root.pk in queued:
        return None  # another selected group of the same tree already queued it
    queued.add(root.pk)
    services.tree_recompute_request(group=group, acting_user=request.user, reason=reason)
    return _("The allocation of %(root)s is recomputed and sent to its chargers.") % {"root": root}


class _TreeChangeList(ChangeList):
    """Hands each listed group its line of the tree summary (the admin instance is shared between requests)."""

    def get_results(self, request):
        super().get_results(request)
        _order, rows = _tree_rows(request)
        for obj in self.result_list:
            obj.tree_row = rows.get(obj.pk)


def _row(obj) -> _TreeRow:
    return getattr(obj, "tree_row", None) or _TreeRow(depth=0, evses=0, sessions=0, allocated=[_ZERO, _ZERO, _ZERO])


# --- Admin pages ------------------------------------------------------------------------------------------------------


@admin.register(PowerGroup)
class PowerGroupAdmin(_WriteOnOwnOrganization, ChargingChoicesMixin, AuditedAdmin):
    form = PowerGroupForm
    change_form_template = "admin/loadbalancing/powergroup/change_form.html"
    list_display = ["tree_name", "organization", "limits_display", "mode", "evses_wired", "active_sessions",
                    "allocated_now"]
    list_filter = ["mode", "is_active"]
    search_fields = ["name", "organization__name"]
    list_select_related = ["organization"]
    list_per_page = 500  # the tree reads best on one page
    inlines = [EvseWiringInline, GroupPriorityInline]
    actions = ["recompute_now"]

    recompute_now = action_with_reason(description=gettext_lazy("Recompute now"), permissions=["recompute"],
                                       apply=_recompute)

    def has_recompute_permission(self, request):
        return self.has_change_permission(request)

    def get_readonly_fields(self, request, obj=None):
        # Moving a group with its wirings to another owner would mix two owners' fuses.
        return ["organization", "created_at"] if obj is not None else ["created_at"]

    def get_ordering(self, request):
        order, _rows = _tree_rows(request)
        if not order:
            return ["pk"]
        return [Case(*[When(pk=pk, then=Value(position)) for position, pk in enumerate(order)],
                     default=Value(len(order)), output_field=IntegerField()), "pk"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        request._loadbalancing_editing = obj
        return super().get_form(request, obj, change=change, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "parent":
            queryset = scope(PowerGroup.objects.all(), request.user)
            obj = getattr(request, "_loadbalancing_editing", None)
            if obj is not None:
                queryset = queryset.filter(organization_id=obj.organization_id).exclude(
                    pk__in={obj.pk, *_descendant_ids(obj.pk)})
            kwargs["queryset"] = queryset
            # Only the offered groups are accepted; say why another one is not.
            kwargs["error_messages"] = {"invalid_choice": _(
                "Choose a group of the same owner that is neither this group nor fed from it (that would make a "
                "loop in the fuse tree).")}
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def history_targets(self, obj):
        return [(EvseWiring, list(obj.wirings.values_list("pk", flat=True))),
                (GroupPriority, list(obj.priorities.values_list("pk", flat=True)))]

    def get_changelist(self, request, **kwargs):
        return _TreeChangeList

    @admin.display(description=gettext_lazy("name"))
    def tree_name(self, obj):
        depth = _row(obj).depth
        return format_html('<span style="padding-left: {}em">{}{}</span>', depth * 1.5, "└ " if depth else "",
                           obj.name)

    @admin.display(description=gettext_lazy("limits L1 / L2 / L3 (A)"))
    def limits_display(self, obj):
        return _phases(obj.limits)

    @admin.display(description=gettext_lazy("EVSEs wired"))
    def evses_wired(self, obj):
        return _row(obj).evses

    @admin.display(description=gettext_lazy("active sessions"))
    def active_sessions(self, obj):
        return _row(obj).sessions

    @admin.display(description=gettext_lazy("allocated now L1 / L2 / L3 (A)"))
    def allocated_now(self, obj):
        return _phases(_row(obj).allocated)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if obj is not None:
            context["live_allocation"] = self._live_allocation(obj)
            context["simulate_url"] = reverse("admin:loadbalancing_powergroup_simulate", args=[obj.pk])
        return super().change_view(request, object_id, form_url, extra_context=context)

    def _live_allocation(self, group: PowerGroup) -> list[dict]:
        groups = services.tree(group)
        wirings = (EvseWiring.objects.filter(group__in=groups).select_related("evse__charge_point", "group")
                   .order_by("evse__charge_point__identity", "evse__evse_id"))
        allocations = {row.evse_id: row for row in EvseAllocation.objects.filter(
            evse_id__in=[wiring.evse_id for wiring in wirings]).select_related("session")}
        return [{"wiring": wiring, "allocation": allocations.get(wiring.evse_id)} for wiring in wirings]

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [path("<path:object_id>/simulate/", self.admin_site.admin_view(self.simulate_view),
                     name="{}_{}_simulate".format(*info)),
                *super().get_urls()]

    def simulate_view(self, request: HttpRequest, object_id: str):
        group = self.get_object(request, object_id)
        if group is None:
            raise Http404(_("No such power group."))
        if not self.has_view_or_change_permission(request, group):
            raise PermissionDenied
        wirings = list(EvseWiring.objects.filter(group__in=services.tree(group))
                       .select_related("evse__charge_point", "group")
                       .order_by("evse__charge_point__identity", "evse__evse_id"))
        form = SimulateForm(request.POST if request.method == "POST" else None, wirings=wirings)
        result = None
        if request.method == "POST" and form.is_valid():
            try:
                result = _simulate(group, form, timezone.now())
            except engine.AllocationError as error:
                form.add_error(None, _(error.template) % error.params)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Simulate %(group)s") % {"group": group},
            "opts": self.opts,
            "original": group,
            "form": form,
            "result": result,
        }
        return TemplateResponse(request, "admin/loadbalancing/powergroup/simulate.html", context)


@admin.register(GridMeterReading)
class GridMeterReadingAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    organization_field = "group__organization"
    list_display = ["measured_at", "group", "l1", "l2", "l3", "source", "received_at"]
    # Only groups of rows the user can see are offered as filters.
    list_filter = [("group", admin.RelatedOnlyFieldListFilter), "source"]
    date_hierarchy = "measured_at"
    list_select_related = ["group"]


@admin.register(EvseAllocation)
class EvseAllocationAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    organization_field = "group__organization"
    list_display = ["evse", "group", "session", "limit", "confirmed_limit", "measured", "state", "computed_at",
                    "sent_at", "error"]
    list_filter = [("group", admin.RelatedOnlyFieldListFilter), "state"]
    search_fields = ["evse__charge_point__identity", "evse__charge_point__display_name", "group__name"]
    list_select_related = ["evse__charge_point", "group", "session"]
