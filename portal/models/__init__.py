from portal.database import Base, utcnow  # noqa: F401
from portal.models.notices import Attachment, Blob, Notice, NoticeCategory, notice_building  # noqa: F401
from portal.models.people import Building, Department, Residency, Role, Unit, User, UserSession  # noqa: F401
from portal.models.settings import Setting, SettingChange  # noqa: F401
from portal.models.cache import CacheVersion  # noqa: F401
from portal.models.tickets import (  # noqa: F401
    INTERNAL_EVENTS,
    NUMBER_PREFIX,
    OPEN_STATUSES,
    EventKind,
    Ticket,
    TicketCategory,
    TicketChannel,
    TicketCounter,
    TicketDepartment,
    TicketEvent,
    TicketAlias,
    TicketPhoto,
    TicketStatus,
)
from portal.models.community import (  # noqa: F401
    BoxOpening,
    Consultation,
    ConsultationAnswer,
    ConsultationKind,
    ConsultationOption,
    Event,
    EventType,
    EventSignup,
    SignupStatus,
    Study,
    Suggestion,
    SuggestionStatus,
    SuggestionSupport,
    SuggestionTopic,
    Vote,
    consultation_building,
    event_building,
)
from portal.models.kiosk import KioskScreen, Orientation  # noqa: F401
from portal.models.disclosure import DisclosureSection, DisclosureVersion  # noqa: F401
from portal.models.records import (  # noqa: F401
    OUTREACH_KINDS,
    CommRecord,
    FigureKey,
    Measure,
    MeasureStatus,
    PublishedFigures,
    RecordKind,
    Report,
    TrainingAttendance,
    TrainingMethod,
    TrainingPlanItem,
    TrainingSession,
    TrainingTopic,
    training_plan_person,
)
from portal.models.notify import (  # noqa: F401
    Channel,
    ConsentRecord,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Notification,
    NotificationPref,
    NotifyJob,
)
from portal.models.duty import CalendarDay, Page, RotaChange, RotaEntry, Shift  # noqa: F401
from portal.models.chat import (  # noqa: F401
    Call,
    CannedReply,
    ChatMessage,
    Conversation,
    ConversationStatus,
    InboundEvent,
    Sender,
    WeChatFollower,
)
from portal.models.search import SEARCH_TABLES, notice_search, record_search, suggestion_search, ticket_search  # noqa: F401
from portal.models.surveys import (  # noqa: F401
    SCALE_MAX,
    QuestionKind,
    Survey,
    SurveyAnswer,
    SurveyChoice,
    SurveyQuestion,
    SurveyResponse,
    survey_building,
)
