from django.apps import AppConfig


class RoamingConfig(AppConfig):
    """OCPI 2.2.1 / 2.2 as a charge point operator."""

    name = "roaming"
    verbose_name = "Roaming (OCPI)"

    def ready(self):
        from billing.services.session_pricing import register_priced_listener
        from charging.ocpp.gateway import register_message_listener
        from charging.services.authorization import register_roaming_authorizer
        from charging.services.sessions import register_roaming_readings_listener
        from roaming.services.authorize import roaming_authorizer
        from roaming.services.commands import commanded_authorizer
        from roaming.services.pushes import on_status_message
        from roaming.services.sessions import on_charger_message, on_roaming_readings
        from roaming.tasks import cdr_push_task

        # A token an eMSP started or reserved with by command is accepted there without a real-time check; then
        # tokens pushed by eMSPs (and real-time authorization) decide about uids the CSMS does not know.
        register_roaming_authorizer(commanded_authorizer)
        register_roaming_authorizer(roaming_authorizer)
        # The CDR of a roaming session goes to its eMSP once the session is priced.
        register_priced_listener(cdr_push_task.delay)
        # Roaming sessions are PUT to their eMSP when a charger starts or ends them, and at most every minute while
        # they get new meter values.
        register_message_listener(on_charger_message)
        register_roaming_readings_listener(on_roaming_readings)
        # EVSE status changes are PATCHed to every eMSP with a locations Receiver (queued, never awaited here).
        register_message_listener(on_status_message)
