"""Korean and English words of the installer's app (Korean first: the installers' language).

The same table serves the server-rendered templates and the page's script (injected as
JSON), so the two never say things differently.
"""

from __future__ import annotations

from typing import get_args

from anbu.registry_records import DeviceKindName

TEXT: dict[str, tuple[str, str]] = {
    # key: (Korean, English)
    "app": ("설치 앱", "Installer app"),
    "switch_to": ("English", "한국어"),
    "signout": ("로그아웃", "Sign out"),
    "not_installer": (
        "설치 앱은 설치 기사와 관리자만 쓸 수 있습니다.",
        "Only installers and administrators may use the installer app.",
    ),
    "not_found": (
        "담당 센터에 이 가구가 없습니다.",
        "There is no such household in your care center.",
    ),
    "find": ("가구 찾기", "Find a household"),
    "find_hint": (
        "작업 지시서의 가구 ID나 동 이름으로 찾으세요. 이름·전화번호는 설치 앱에 나오지 않습니다.",
        "Search by the household id on the work order, or by dong. Names and phone numbers "
        "are not shown in the installer app.",
    ),
    "search": ("찾기", "Search"),
    "search_placeholder": ("가구 ID 또는 동", "household id or dong"),
    "recent": ("최근 가구", "Recent households"),
    "no_results": ("찾는 가구가 없습니다.", "No household found."),
    "new_household": ("새 가구 등록", "Register a new household"),
    "new_household_hint": (
        "가구 ID는 자동으로 만들어집니다 (이름이나 주소로 만들지 않습니다). 대상자와 연락처는 "
        "센터 직원이 등록합니다.",
        "The household id is made for you (never from a name or address). Residents and "
        "contacts are registered by the care center's staff.",
    ),
    "care_center": ("센터", "Care center"),
    "dong": ("동", "Dong"),
    "create": ("등록", "Register"),
    "open": ("열기", "Open"),
    "gateways_n": ("게이트웨이", "gateway(s)"),
    "devices_n": ("기기", "device(s)"),
    "household": ("가구", "Household"),
    "back": ("가구 찾기", "Find a household"),
    "step_gateway": ("1. 게이트웨이 등록", "1. Register the gateway"),
    "gateway_hint": (
        "게이트웨이를 켜고 설정 모드에서 아래 QR 코드를 스캔하게 하세요.",
        "Switch the gateway on and let it scan the QR code below in its set-up mode.",
    ),
    "register_gateway": ("게이트웨이 등록", "Register gateway"),
    "gateway_id_optional": (
        "게이트웨이 ID (라벨, 비우면 자동)", "Gateway id (label; empty: made for you)"
    ),
    "another_gateway": ("게이트웨이 추가", "Add another gateway"),
    "credentials": ("게이트웨이 접속 정보", "Gateway login"),
    "shown_once": (
        "비밀번호는 지금 한 번만 표시됩니다. 게이트웨이가 QR을 읽은 뒤 이 화면을 닫으세요.",
        "The password is shown this once. Close this screen only after the gateway has "
        "read the QR code.",
    ),
    "new_password": ("새 비밀번호 발급", "Issue a new password"),
    "username": ("아이디", "User name"),
    "password": ("비밀번호", "Password"),
    "broker": ("서버", "Broker"),
    "step_devices": ("2. 기기 추가", "2. Add devices"),
    "device_id": ("기기 ID", "Device id"),
    "device_id_hint": (
        "라벨의 ID를 입력하거나, 휴대폰 키보드의 텍스트 스캔(카메라) 또는 바코드 스캐너로 "
        "칸을 채우세요. Zigbee 기기는 0x로 시작하는 IEEE 주소입니다.",
        "Type the id on the label, or fill the field with your phone keyboard's text scan "
        "(camera) or a barcode scanner. Zigbee devices use their IEEE address (0x…).",
    ),
    "kind": ("종류", "Kind"),
    "room": ("위치", "Room"),
    "room_other": ("직접 입력", "Other…"),
    "room_custom": ("위치 (직접 입력)", "Room (type it)"),
    "format": ("통신 방식", "Protocol"),
    "topic_optional": ("MQTT 토픽 (비우면 자동)", "MQTT topic (empty: made for you)"),
    "advanced": ("고급", "Advanced"),
    "add_device": ("기기 추가", "Add device"),
    "step_check": ("3. 동작 확인", "3. Commissioning check"),
    "check_hint": (
        "기기를 한 번씩 작동시키세요 (문 열기, 센서 앞에서 움직이기, 플러그 켜기). 첫 신호가 "
        "들어오면 초록색으로 바뀝니다. 모두 초록색이 되면 설치가 끝난 것입니다.",
        "Make each device report once (open the door, move in front of the sensor, switch "
        "the plug on). It turns green as its first message arrives. When all are green, the "
        "installation is done.",
    ),
    "waiting": ("기다리는 중", "waiting"),
    "reported": ("신호 받음", "reported"),
    "silent_since": ("보고 지연", "silent too long"),
    "all_green": ("모든 기기가 신호를 보냈습니다. 설치 완료!", "Every device has reported. Done!"),
    "n_waiting": ("대 신호 기다리는 중", "still waiting"),
    "no_devices": ("아직 등록한 기기가 없습니다.", "No devices added yet."),
    "connection_lost": (
        "서버와 연결이 끊겼습니다. 다시 시도하는 중…", "Lost the server; retrying…"
    ),
    "still_grey": ("회색으로 남아 있으면?", "Stays grey?"),
    "hint_trigger": (
        "기기를 직접 작동시키세요: 문을 열고 닫기, 센서 앞에서 손 흔들기, 플러그 켜기, "
        "버튼 누르기.",
        "Make it report: open and close the door, wave in front of the sensor, switch the "
        "plug on, press the button.",
    ),
    "hint_battery": (
        "배터리: 절연 탭을 뽑았는지, 방향(+/-)이 맞는지, 새 배터리인지 확인하세요.",
        "Battery: pull the insulating tab, check + and − are the right way round, try a "
        "fresh battery.",
    ),
    "hint_distance": (
        "거리: 게이트웨이에서 10 m 안, 벽 한두 개 이내로 가져가 보세요. 멀면 중간에 스마트 "
        "플러그(중계기)를 두세요.",
        "Distance: bring it within about 10 m of the gateway (one or two walls). If it is "
        "farther, put a mains-powered smart plug in between as a repeater.",
    ),
    "hint_pairing": (
        "페어링: 게이트웨이를 페어링 모드로 두고, 기기의 리셋 버튼을 LED가 깜박일 때까지 "
        "(약 5초) 누르세요. Zigbee2MQTT의 기기 이름이 기기 ID와 같아야 합니다.",
        "Pairing: put the gateway in pairing mode, then hold the device's reset button until "
        "its LED blinks (about 5 s). Its Zigbee2MQTT name must be the device id.",
    ),
    "hint_wifi": (
        "Wi-Fi 기기(Tasmota, Shelly): 집 Wi-Fi와 MQTT 서버 설정, 토픽이 위와 같은지 확인하세요.",
        "Wi-Fi devices (Tasmota, Shelly): check the home Wi-Fi, the MQTT broker settings, "
        "and that the topic is the one above.",
    ),
    "hint_gateway": (
        "게이트웨이: 전원과 인터넷 연결을 확인하고, QR 코드를 다시 읽히세요 (필요하면 새 "
        "비밀번호 발급).",
        "Gateway: check its power and internet connection, and let it read the QR code "
        "again (issue a new password if needed).",
    ),
    "replace": ("교체", "Replace"),
    "replace_hint": ("새 기기의 ID", "The new device's id"),
    "replace_do": ("교체하기", "Replace it"),
    "retire": ("철거", "Retire"),
    "retire_confirm": ("정말 철거", "Really retire"),
    "cancel": ("취소", "Cancel"),
    "gateway": ("게이트웨이", "Gateway"),
    "error": ("오류", "Error"),
    "saved": ("저장했습니다", "Saved"),
}

KIND_TEXT: dict[str, tuple[str, str]] = {
    "motion": ("동작 센서", "Motion sensor"),
    "door": ("현관문 센서", "Entrance door sensor"),
    "contact": ("문/창 센서", "Door/window contact"),
    "presence": ("재실 센서", "Presence sensor"),
    "plug": ("스마트 플러그", "Smart plug"),
    "button": ("SOS 버튼", "SOS button"),
    "robot": ("돌봄 로봇", "Care robot"),
    "gateway": ("게이트웨이 (하트비트)", "Gateway (heartbeat)"),
    "other": ("기타 기기", "Other device"),
}

# Rooms are stored in Korean, the care workers' language, whatever the installer's language.
ROOMS: dict[str, tuple[str, str]] = {
    "거실": ("거실", "Living room"),
    "침실": ("침실", "Bedroom"),
    "주방": ("주방", "Kitchen"),
    "화장실": ("화장실", "Bathroom"),
    "현관": ("현관", "Entrance"),
    "작은방": ("작은방", "Small room"),
}

FORMAT_TEXT: dict[str, tuple[str, str]] = {
    "zigbee2mqtt": ("Zigbee (게이트웨이 경유)", "Zigbee (through the gateway)"),
    "anbu": ("안부 게이트웨이·로봇", "anbu gateway or robot"),
    "tasmota": ("Tasmota (Wi-Fi)", "Tasmota (Wi-Fi)"),
    "shelly": ("Shelly (Wi-Fi)", "Shelly (Wi-Fi)"),
}

KINDS: tuple[str, ...] = get_args(DeviceKindName)


def labels(table: dict[str, tuple[str, str]], lang: str) -> dict[str, str]:
    """One of the tables above (phrases, kinds, rooms, formats) in ``lang`` (``ko``, ``en``)."""
    index = 0 if lang == "ko" else 1
    return {key: pair[index] for key, pair in table.items()}
