"""Questionnaires (问卷) and the half-yearly satisfaction survey (S3.1, S3.5.2, S5.1.1)."""
import enum
from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.database import utcnow
from portal.extensions import db
from portal.models.people import Building

SCALE_MAX = 5  # a scale question is answered 1 to 5, as a ticket is rated


class QuestionKind(enum.StrEnum):
    SINGLE = "single"  # one of the choices
    MULTIPLE = "multiple"  # any of the choices
    SCALE = "scale"  # 1 to 5
    TEXT = "text"  # free text

    @property
    def has_choices(self):
        return self in (QuestionKind.SINGLE, QuestionKind.MULTIPLE)


survey_building = Table(
    "survey_building",
    db.metadata,
    Column("survey_id", ForeignKey("survey.id", ondelete="CASCADE"), primary_key=True),
    Column("building_id", ForeignKey("building.id"), primary_key=True, index=True),
)


class Survey(db.Model):
    """A questionnaire for the residents (or owners only) of some buildings, answered once per
    household or once per person between its opening and closing times. A draft (published_at
    empty) is seen by the back office only; its questions can change until the first answer."""

    __tablename__ = "survey"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    introduction: Mapped[str] = mapped_column(Text, default="")
    is_owners_only: Mapped[bool] = mapped_column(default=False)
    is_per_household: Mapped[bool] = mapped_column(default=True)  # else one answer per person
    is_satisfaction: Mapped[bool] = mapped_column(default=False)  # its overall question joins the satisfaction figure
    opens_at: Mapped[datetime] = mapped_column(index=True)
    closes_at: Mapped[datetime] = mapped_column(index=True)
    published_at: Mapped[datetime | None]
    invited_at: Mapped[datetime | None]  # the residents were told it is open
    closing_told_at: Mapped[datetime | None]  # those who had not answered were reminded before it closed
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    buildings: Mapped[list[Building]] = relationship(secondary=survey_building, order_by=Building.name)
    questions: Mapped[list["SurveyQuestion"]] = relationship(order_by="SurveyQuestion.position", cascade="all, delete-orphan",
                                                             back_populates="survey")

    def is_for(self, building_id, is_owner):
        """Is a home in this building, held as owner or not, among those asked?"""
        return (is_owner or not self.is_owners_only) and any(b.id == building_id for b in self.buildings)

    def state(self, now):
        if self.published_at is None:
            return "draft"
        if now < self.opens_at:
            return "scheduled"
        return "open" if now < self.closes_at else "closed"

    def is_open(self, now):
        return self.state(now) == "open"


class SurveyQuestion(db.Model):
    __tablename__ = "survey_question"
    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("survey.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    kind: Mapped[QuestionKind]
    text: Mapped[str] = mapped_column(String(300))
    is_required: Mapped[bool] = mapped_column(default=True)
    is_overall: Mapped[bool] = mapped_column(default=False)  # a scale question: the overall satisfaction the figure counts
    survey: Mapped[Survey] = relationship(back_populates="questions")
    choices: Mapped[list["SurveyChoice"]] = relationship(order_by="SurveyChoice.position", cascade="all, delete-orphan",
                                                         lazy="selectin")


class SurveyChoice(db.Model):
    __tablename__ = "survey_choice"
    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("survey_question.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(default=0)


class SurveyResponse(db.Model):
    """One household's (or one person's) answers. `respondent` is "u<unit id>" or "p<user id>":
    unique per survey, so that two members of a household answering at once make one response."""

    __tablename__ = "survey_response"
    __table_args__ = (UniqueConstraint("survey_id", "respondent"), Index("ix_survey_response_unit", "survey_id", "unit_id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("survey.id", ondelete="CASCADE"))
    respondent: Mapped[str] = mapped_column(String(24))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))  # the home answered for (a person's: the first of theirs asked)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)


class SurveyAnswer(db.Model):
    """One answer to one question: a chosen choice (a multiple-choice question has a row per choice),
    a scale value or a text."""

    __tablename__ = "survey_answer"
    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("survey_response.id", ondelete="CASCADE"), index=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("survey_question.id", ondelete="CASCADE"), index=True)
    choice_id: Mapped[int | None] = mapped_column(ForeignKey("survey_choice.id", ondelete="CASCADE"))
    scale: Mapped[int | None]
    text: Mapped[str] = mapped_column(Text, default="")
