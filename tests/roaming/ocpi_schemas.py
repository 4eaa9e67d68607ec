"""JSON Schemas of the OCPI 2.2.1 objects the CPO sends, written from the specification (ocpi/ocpi, tag 2.2.1:
types.asciidoc, mod_locations, mod_tariffs, mod_sessions, mod_cdrs): required fields (cardinality 1 and +), enums,
maximum lengths of CiString/string fields, DateTime as UTC with a ``Z`` (the spec allows no designator too; we always
send one), numbers as JSON numbers. Unknown properties are refused, so a misspelt field fails.

``validate(name, instance)`` checks an object against one of them (jsonschema, Draft 2020-12).
"""

import jsonschema

DATETIME = {"type": "string", "maxLength": 25,
            "pattern": r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
                       r"(\.[0-9]{1,3})?Z$"}
NUMBER = {"type": "number"}
INT = {"type": "integer"}
BOOLEAN = {"type": "boolean"}
URL = {"type": "string", "maxLength": 255, "pattern": r"^https?://[\x21-\x7e]+$"}
TIME_OF_DAY = {"type": "string", "maxLength": 5, "pattern": r"^([0-1][0-9]|2[0-3]):[0-5][0-9]$"}
DATE = {"type": "string", "maxLength": 10,
        "pattern": r"^([12][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"}


def cistring(length: int) -> dict:
    """Case-insensitive string: printable ASCII only."""
    return {"type": "string", "maxLength": length, "pattern": r"^[\x20-\x7e]*$"}


def string(length: int) -> dict:
    """Printable UTF-8: no control characters (line breaks, tabs...)."""
    return {"type": "string", "maxLength": length, "pattern": r"^[^\x00-\x1f\x7f]*$"}


def enum(*values: str) -> dict:
    return {"type": "string", "enum": list(values)}


def array(items: dict, *, at_least_one: bool = False) -> dict:
    schema = {"type": "array", "items": items}
    if at_least_one:
        schema["minItems"] = 1
    return schema


def obj(properties: dict, required: list[str]) -> dict:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


COUNTRY_CODE = {**cistring(2), "pattern": r"^[A-Za-z]{2}$"}
PARTY_ID = {**cistring(3), "pattern": r"^[\x21-\x7e]{3}$"}

# --- types.asciidoc ---
DISPLAY_TEXT = obj({"language": {**string(2), "pattern": r"^[a-z]{2}$"}, "text": string(512)}, ["language", "text"])
PRICE = obj({"excl_vat": NUMBER, "incl_vat": NUMBER}, ["excl_vat"])

# --- mod_locations ---
STATUS = enum("AVAILABLE", "BLOCKED", "CHARGING", "INOPERATIVE", "OUTOFORDER", "PLANNED", "REMOVED", "RESERVED",
              "UNKNOWN")
CAPABILITY = enum("CHARGING_PROFILE_CAPABLE", "CHARGING_PREFERENCES_CAPABLE", "CHIP_CARD_SUPPORT",
                  "CONTACTLESS_CARD_SUPPORT", "CREDIT_CARD_PAYABLE", "DEBIT_CARD_PAYABLE", "PED_TERMINAL",
                  "REMOTE_START_STOP_CAPABLE", "RESERVABLE", "RFID_READER", "START_SESSION_CONNECTOR_REQUIRED",
                  "TOKEN_GROUP_CAPABLE", "UNLOCK_CAPABLE")
CONNECTOR_TYPE = enum(
    "CHADEMO", "CHAOJI", "DOMESTIC_A", "DOMESTIC_B", "DOMESTIC_C", "DOMESTIC_D", "DOMESTIC_E", "DOMESTIC_F",
    "DOMESTIC_G", "DOMESTIC_H", "DOMESTIC_I", "DOMESTIC_J", "DOMESTIC_K", "DOMESTIC_L", "DOMESTIC_M", "DOMESTIC_N",
    "DOMESTIC_O", "GBT_AC", "GBT_DC", "IEC_60309_2_single_16", "IEC_60309_2_three_16", "IEC_60309_2_three_32",
    "IEC_60309_2_three_64", "IEC_62196_T1", "IEC_62196_T1_COMBO", "IEC_62196_T2", "IEC_62196_T2_COMBO",
    "IEC_62196_T3A", "IEC_62196_T3C", "NEMA_5_20", "NEMA_6_30", "NEMA_6_50", "NEMA_10_30", "NEMA_10_50",
    "NEMA_14_30", "NEMA_14_50", "PANTOGRAPH_BOTTOM_UP", "PANTOGRAPH_TOP_DOWN", "TESLA_R", "TESLA_S")
CONNECTOR_FORMAT = enum("SOCKET", "CABLE")
POWER_TYPE = enum("AC_1_PHASE", "AC_2_PHASE", "AC_2_PHASE_SPLIT", "AC_3_PHASE", "DC")
PARKING_TYPE = enum("ALONG_MOTORWAY", "PARKING_GARAGE", "PARKING_LOT", "ON_DRIVEWAY", "ON_STREET",
                    "UNDERGROUND_GARAGE")
PARKING_RESTRICTION = enum("EV_ONLY", "PLUGGED", "DISABLED", "CUSTOMERS", "MOTORCYCLES")
FACILITY = enum("HOTEL", "RESTAURANT", "CAFE", "MALL", "SUPERMARKET", "SPORT", "RECREATION_AREA", "NATURE",
                "MUSEUM", "BIKE_SHARING", "BUS_STOP", "TAXI_STAND", "TRAM_STOP", "METRO_STATION", "TRAIN_STATION",
                "AIRPORT", "PARKING_LOT", "CARPOOL_PARKING", "FUEL_STATION", "WIFI")
TOKEN_TYPE = enum("AD_HOC_USER", "APP_USER", "OTHER", "RFID")

GEO_LOCATION = obj({"latitude": {**string(10), "pattern": r"^-?[0-9]{1,2}\.[0-9]{5,7}$"},
                    "longitude": {**string(11), "pattern": r"^-?[0-9]{1,3}\.[0-9]{5,7}$"}},
                   ["latitude", "longitude"])
ADDITIONAL_GEO_LOCATION = obj({**GEO_LOCATION["properties"], "name": DISPLAY_TEXT}, ["latitude", "longitude"])
IMAGE = obj({"url": URL, "thumbnail": URL,
             "category": enum("CHARGER", "ENTRANCE", "LOCATION", "NETWORK", "OPERATOR", "OTHER", "OWNER"),
             "type": cistring(4), "width": INT, "height": INT}, ["url", "category", "type"])
BUSINESS_DETAILS = obj({"name": string(100), "website": URL, "logo": IMAGE}, ["name"])
REGULAR_HOURS = obj({"weekday": {"type": "integer", "minimum": 1, "maximum": 7},
                     "period_begin": TIME_OF_DAY, "period_end": TIME_OF_DAY},
                    ["weekday", "period_begin", "period_end"])
EXCEPTIONAL_PERIOD = obj({"period_begin": DATETIME, "period_end": DATETIME}, ["period_begin", "period_end"])
HOURS = {
    **obj({"twentyfourseven": BOOLEAN, "regular_hours": array(REGULAR_HOURS),
           "exceptional_openings": array(EXCEPTIONAL_PERIOD), "exceptional_closings": array(EXCEPTIONAL_PERIOD)},
          ["twentyfourseven"]),
    # regular_hours: "Only to be used if twentyfourseven=false, then this field needs to contain at least one".
    "if": {"properties": {"twentyfourseven": {"const": False}}},
    "then": {"required": ["regular_hours"], "properties": {"regular_hours": {"minItems": 1}}},
    "else": {"not": {"required": ["regular_hours"]}},
}
STATUS_SCHEDULE = obj({"period_begin": DATETIME, "period_end": DATETIME, "status": STATUS},
                      ["period_begin", "status"])
CONNECTOR = obj({
    "id": cistring(36), "standard": CONNECTOR_TYPE, "format": CONNECTOR_FORMAT, "power_type": POWER_TYPE,
    "max_voltage": INT, "max_amperage": INT, "max_electric_power": INT, "tariff_ids": array(cistring(36)),
    "terms_and_conditions": URL, "last_updated": DATETIME,
}, ["id", "standard", "format", "power_type", "max_voltage", "max_amperage", "last_updated"])
EVSE = obj({
    "uid": cistring(36), "evse_id": cistring(48), "status": STATUS, "status_schedule": array(STATUS_SCHEDULE),
    "capabilities": array(CAPABILITY), "connectors": array(CONNECTOR, at_least_one=True), "floor_level": string(4),
    "coordinates": GEO_LOCATION, "physical_reference": string(16), "directions": array(DISPLAY_TEXT),
    "parking_restrictions": array(PARKING_RESTRICTION), "images": array(IMAGE), "last_updated": DATETIME,
}, ["uid", "status", "connectors", "last_updated"])
PUBLISH_TOKEN_TYPE = obj({"uid": cistring(36), "type": TOKEN_TYPE, "visual_number": string(64),
                          "issuer": string(64), "group_id": cistring(36)}, [])
ENERGY_SOURCE = obj({"source": enum("NUCLEAR", "GENERAL_FOSSIL", "COAL", "GAS", "GENERAL_GREEN", "SOLAR", "WIND",
                                    "WATER"), "percentage": NUMBER}, ["source", "percentage"])
ENVIRONMENTAL_IMPACT = obj({"category": enum("NUCLEAR_WASTE", "CARBON_DIOXIDE"), "amount": NUMBER},
                           ["category", "amount"])
ENERGY_MIX = obj({"is_green_energy": BOOLEAN, "energy_sources": array(ENERGY_SOURCE),
                  "environ_impact": array(ENVIRONMENTAL_IMPACT), "supplier_name": string(64),
                  "energy_product_name": string(64)}, ["is_green_energy"])
LOCATION = obj({
    "country_code": COUNTRY_CODE, "party_id": PARTY_ID, "id": cistring(36), "publish": BOOLEAN,
    "publish_allowed_to": array(PUBLISH_TOKEN_TYPE), "name": string(255), "address": string(45),
    "city": string(45), "postal_code": string(10), "state": string(20),
    "country": {**string(3), "pattern": r"^[A-Z]{3}$"}, "coordinates": GEO_LOCATION,
    "related_locations": array(ADDITIONAL_GEO_LOCATION), "parking_type": PARKING_TYPE, "evses": array(EVSE),
    "directions": array(DISPLAY_TEXT), "operator": BUSINESS_DETAILS, "suboperator": BUSINESS_DETAILS,
    "owner": BUSINESS_DETAILS, "facilities": array(FACILITY), "time_zone": string(255), "opening_times": HOURS,
    "charging_when_closed": BOOLEAN, "images": array(IMAGE), "energy_mix": ENERGY_MIX, "last_updated": DATETIME,
}, ["country_code", "party_id", "id", "publish", "address", "city", "country", "coordinates", "time_zone",
    "last_updated"])

# --- mod_tariffs ---
TARIFF_DIMENSION_TYPE = enum("ENERGY", "FLAT", "PARKING_TIME", "TIME")
PRICE_COMPONENT = obj({"type": TARIFF_DIMENSION_TYPE, "price": NUMBER, "vat": NUMBER, "step_size": INT},
                      ["type", "price", "step_size"])
TARIFF_RESTRICTIONS = obj({
    "start_time": TIME_OF_DAY, "end_time": TIME_OF_DAY, "start_date": DATE, "end_date": DATE,
    "min_kwh": NUMBER, "max_kwh": NUMBER, "min_current": NUMBER, "max_current": NUMBER, "min_power": NUMBER,
    "max_power": NUMBER, "min_duration": INT, "max_duration": INT,
    "day_of_week": array(enum("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")),
    "reservation": enum("RESERVATION", "RESERVATION_EXPIRES"),
}, [])
TARIFF_ELEMENT = obj({"price_components": array(PRICE_COMPONENT, at_least_one=True),
                      "restrictions": TARIFF_RESTRICTIONS}, ["price_components"])
TARIFF = obj({
    "country_code": COUNTRY_CODE, "party_id": PARTY_ID, "id": cistring(36),
    "currency": {**string(3), "pattern": r"^[A-Z]{3}$"},
    "type": enum("AD_HOC_PAYMENT", "PROFILE_CHEAP", "PROFILE_FAST", "PROFILE_GREEN", "REGULAR"),
    "tariff_alt_text": array(DISPLAY_TEXT), "tariff_alt_url": URL, "min_price": PRICE, "max_price": PRICE,
    "elements": array(TARIFF_ELEMENT, at_least_one=True), "start_date_time": DATETIME, "end_date_time": DATETIME,
    "energy_mix": ENERGY_MIX, "last_updated": DATETIME,
}, ["country_code", "party_id", "id", "currency", "elements", "last_updated"])

# --- mod_cdrs (types shared with sessions) ---
AUTH_METHOD = enum("AUTH_REQUEST", "COMMAND", "WHITELIST")
CDR_TOKEN = obj({"country_code": COUNTRY_CODE, "party_id": PARTY_ID, "uid": cistring(36), "type": TOKEN_TYPE,
                 "contract_id": cistring(36)}, ["country_code", "party_id", "uid", "type", "contract_id"])
CDR_DIMENSION_TYPE_SESSION = enum("CURRENT", "ENERGY", "ENERGY_EXPORT", "ENERGY_IMPORT", "MAX_CURRENT",
                                  "MIN_CURRENT", "MAX_POWER", "MIN_POWER", "PARKING_TIME", "POWER",
                                  "RESERVATION_TIME", "STATE_OF_CHARGE", "TIME")
#: The "Session only" dimension types are not allowed in a CDR.
CDR_DIMENSION_TYPE_CDR = enum("ENERGY", "MAX_CURRENT", "MIN_CURRENT", "MAX_POWER", "MIN_POWER", "PARKING_TIME",
                              "RESERVATION_TIME", "TIME")
CDR_DIMENSION = obj({"type": CDR_DIMENSION_TYPE_SESSION, "volume": NUMBER}, ["type", "volume"])
CHARGING_PERIOD = obj({"start_date_time": DATETIME, "dimensions": array(CDR_DIMENSION, at_least_one=True),
                       "tariff_id": cistring(36)}, ["start_date_time", "dimensions"])
CDR_CHARGING_PERIOD = obj({**CHARGING_PERIOD["properties"],
                           "dimensions": array(obj({"type": CDR_DIMENSION_TYPE_CDR, "volume": NUMBER},
                                                   ["type", "volume"]), at_least_one=True)},
                          ["start_date_time", "dimensions"])
CDR_LOCATION = obj({
    "id": cistring(36), "name": string(255), "address": string(45), "city": string(45), "postal_code": string(10),
    "state": string(20), "country": {**string(3), "pattern": r"^[A-Z]{3}$"}, "coordinates": GEO_LOCATION,
    "evse_uid": cistring(36), "evse_id": cistring(48), "connector_id": cistring(36),
    "connector_standard": CONNECTOR_TYPE, "connector_format": CONNECTOR_FORMAT, "connector_power_type": POWER_TYPE,
}, ["id", "address", "city", "country", "coordinates", "evse_uid", "evse_id", "connector_id", "connector_standard",
    "connector_format", "connector_power_type"])
SIGNED_VALUE = obj({"nature": cistring(32), "plain_data": string(512), "signed_data": string(5000)},
                   ["nature", "plain_data", "signed_data"])
SIGNED_DATA = obj({"encoding_method": cistring(36), "encoding_method_version": INT, "public_key": string(512),
                   "signed_values": array(SIGNED_VALUE, at_least_one=True), "url": string(512)},
                  ["encoding_method", "signed_values"])
SESSION = obj({
    "country_code": COUNTRY_CODE, "party_id": PARTY_ID, "id": cistring(36), "start_date_time": DATETIME,
    "end_date_time": DATETIME, "kwh": NUMBER, "cdr_token": CDR_TOKEN, "auth_method": AUTH_METHOD,
    "authorization_reference": cistring(36), "location_id": {**cistring(36), "minLength": 1},
    "evse_uid": {**cistring(36), "minLength": 1}, "connector_id": {**cistring(36), "minLength": 1},
    "meter_id": string(255), "currency": {**string(3), "pattern": r"^[A-Z]{3}$"},
    "charging_periods": array(CHARGING_PERIOD), "total_cost": PRICE,
    "status": enum("ACTIVE", "COMPLETED", "INVALID", "PENDING", "RESERVATION"), "last_updated": DATETIME,
}, ["country_code", "party_id", "id", "start_date_time", "kwh", "cdr_token", "auth_method", "location_id",
    "evse_uid", "connector_id", "currency", "status", "last_updated"])
CDR = obj({
    "country_code": COUNTRY_CODE, "party_id": PARTY_ID, "id": cistring(39), "start_date_time": DATETIME,
    "end_date_time": DATETIME, "session_id": cistring(36), "cdr_token": CDR_TOKEN, "auth_method": AUTH_METHOD,
    "authorization_reference": cistring(36), "cdr_location": CDR_LOCATION, "meter_id": string(255),
    "currency": {**string(3), "pattern": r"^[A-Z]{3}$"}, "tariffs": array(TARIFF),
    "charging_periods": array(CDR_CHARGING_PERIOD, at_least_one=True), "signed_data": SIGNED_DATA,
    "total_cost": PRICE, "total_fixed_cost": PRICE, "total_energy": NUMBER, "total_energy_cost": PRICE,
    "total_time": NUMBER, "total_time_cost": PRICE, "total_parking_time": NUMBER, "total_parking_cost": PRICE,
    "total_reservation_cost": PRICE, "remark": string(255), "invoice_reference_id": cistring(39),
    "credit": BOOLEAN, "credit_reference_id": cistring(39), "home_charging_compensation": BOOLEAN,
    "last_updated": DATETIME,
}, ["country_code", "party_id", "id", "start_date_time", "end_date_time", "cdr_token", "auth_method",
    "cdr_location", "currency", "charging_periods", "total_cost", "total_energy", "total_time", "last_updated"])

SCHEMAS = {
    "DisplayText": DISPLAY_TEXT, "Price": PRICE, "GeoLocation": GEO_LOCATION, "BusinessDetails": BUSINESS_DETAILS,
    "Hours": HOURS, "Connector": CONNECTOR, "EVSE": EVSE, "Location": LOCATION, "PriceComponent": PRICE_COMPONENT,
    "TariffRestrictions": TARIFF_RESTRICTIONS, "TariffElement": TARIFF_ELEMENT, "Tariff": TARIFF,
    "CdrToken": CDR_TOKEN, "CdrDimension": CDR_DIMENSION, "ChargingPeriod": CHARGING_PERIOD,
    "CdrLocation": CDR_LOCATION, "SignedData": SIGNED_DATA, "Session": SESSION, "CDR": CDR,
}


def validate(name: str, instance: object) -> None:
    """Raise jsonschema.ValidationError when ``instance`` is not a valid OCPI 2.2.1 ``name`` object."""
    schema = SCHEMAS[name]
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(instance)
