"""The scorecard form: band thresholds and, per measure, a weight and the values that score 0
and 100. Error messages say what to fix."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import FieldList, FloatField, Form, FormField, SelectChoice, SelectField
from wtforms.validators import InputRequired, NumberRange, Optional, ValidationError

from scoring.features import CATEGORICAL, FEATURES
from scoring.scorecard import Measure, Scorecard

NUMERIC_FEATURES = [f for f in FEATURES if f not in CATEGORICAL]
FEATURE_CHOICES = [SelectChoice("", "(none)")] + [
    SelectChoice(f, f.replace("_", " ")) for f in NUMERIC_FEATURES
]
SPARE_ROWS = 2  # empty rows to add measures


class MeasureForm(Form):
    feature = SelectField("Measure", choices=FEATURE_CHOICES, validate_choice=True)
    weight = FloatField(
        "Weight", validators=[Optional(), NumberRange(0, 1000, "Weight must be 0 to 1000.")]
    )
    bad = FloatField("Scores 0 at", validators=[Optional()])
    good = FloatField("Scores 100 at", validators=[Optional()])

    def validate_good(self, field: FloatField) -> None:
        if not self.feature.data:
            return
        if self.weight.data is None or self.bad.data is None or field.data is None:
            raise ValidationError("Give a weight and both values, or pick (none) to remove it.")
        if self.bad.data == field.data:
            raise ValidationError("The values for 0 and 100 points must differ.")


class ScorecardForm(FlaskForm):
    green_at = FloatField(
        "Green from score",
        validators=[InputRequired("Give a score."), NumberRange(0, 100, "Use 0 to 100.")],
    )
    red_below = FloatField(
        "Red below score",
        validators=[InputRequired("Give a score."), NumberRange(0, 100, "Use 0 to 100.")],
    )
    measures = FieldList(FormField(MeasureForm))

    def validate_red_below(self, field: FloatField) -> None:
        if (
            self.green_at.data is not None
            and field.data is not None
            and field.data > self.green_at.data
        ):
            raise ValidationError("Red must start below green.")

    def validate_measures(self, field: FieldList) -> None:
        chosen = [entry.feature.data for entry in field if entry.feature.data]
        if len(chosen) != len(set(chosen)):
            raise ValidationError("Each measure may appear once.")
        if not any((entry.weight.data or 0) > 0 for entry in field if entry.feature.data):
            raise ValidationError("At least one measure needs a weight above 0.")

    def fill(self, scorecard: Scorecard) -> None:
        """Show `scorecard`, plus empty rows to add measures."""
        self.green_at.data = scorecard.green_at
        self.red_below.data = scorecard.red_below
        while len(self.measures):
            self.measures.pop_entry()
        for measure in scorecard.measures:
            self.measures.append_entry(
                {
                    "feature": measure.feature,
                    "weight": measure.weight,
                    "bad": measure.bad,
                    "good": measure.good,
                }
            )
        for _ in range(SPARE_ROWS):
            self.measures.append_entry()

    def scorecard(self) -> Scorecard:
        """The scorecard the form describes (rows without a measure are left out)."""
        measures = tuple(
            Measure(entry.feature.data, entry.weight.data, entry.bad.data, entry.good.data)
            for entry in self.measures
            if entry.feature.data
        )
        return Scorecard(measures, self.green_at.data, self.red_below.data)
