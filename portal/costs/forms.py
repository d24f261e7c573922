"""Forms of the cost pages: the date range, a price, a bill upload and its column mapping."""

import re

from django import forms
from django.core.exceptions import ValidationError

from portal.forms import FieldErrorsToFormMixin, style_widgets
from portal.workspaces.models import CatalogModel, Region

from . import bills
from .models import ModelPrice
from .money import parse_amount


class RangeForm(forms.Form):
    """This month, last month, or a custom range (inclusive)."""

    PRESETS = [("this_month", "This month"), ("last_month", "Last month"), ("custom", "Custom")]
    range = forms.ChoiceField(choices=PRESETS, required=False)
    start = forms.CharField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.CharField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        style_widgets(self)
        self.fields["range"].widget.attrs["data-costs-range"] = "1"


class TiersField(forms.CharField):
    """Tiers as lines of "over-input-tokens input-price output-price", e.g. "32768 2.4 12"."""

    widget = forms.Textarea(attrs={"rows": 3, "placeholder": "32768 2.4 12"})

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(
                f"{t['over_input_tokens']} {t['input_per_million']} {t['output_per_million']}"
                for t in value
            )
        return value

    def to_python(self, value):
        tiers, problems = [], []
        for number, line in enumerate((value or "").splitlines(), start=1):
            parts = re.split(r"[\s,;]+", line.strip())
            if parts == [""]:
                continue
            if len(parts) != 3 or not parts[0].isdigit():
                problems.append(
                    f"Line {number}: write the input tokens above which the tier applies, then "
                    "its input and output price, e.g. 32768 2.4 12."
                )
                continue
            try:
                rates = [parse_amount(p, field="price", allow_negative=False) for p in parts[1:]]
            except ValidationError as exc:
                problems.append(f"Line {number}: {' '.join(exc.messages)}")
                continue
            tiers.append(
                {
                    "over_input_tokens": int(parts[0]),
                    "input_per_million": str(rates[0]),
                    "output_per_million": str(rates[1]),
                }
            )
        if problems:
            raise ValidationError(problems)
        return tiers


class PriceForm(FieldErrorsToFormMixin, forms.ModelForm):
    tiers = TiersField(
        required=False,
        help_text="Optional: one tier per line, the input tokens per request above which it "
        "applies, then its input and output price per million (e.g. 32768 2.4 12).",
    )

    class Meta:
        model = ModelPrice
        fields = ModelPrice.EDITABLE_FIELDS
        widgets = {"effective_from": forms.DateInput(attrs={"type": "date"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].queryset = CatalogModel.objects.filter(active=True).order_by("name")
        self.fields["region"].queryset = Region.objects.filter(model_studio=True)
        self.fields["currency"].required = False
        self.fields[
            "currency"
        ].help_text = "Empty: the region's currency (CNY in the Chinese mainland, USD elsewhere)."
        style_widgets(self)


class BillUploadForm(forms.Form):
    file = forms.FileField(
        label="Bill details (CSV)",
        help_text="Billing console → Bill Details → Export Bill (CSV), with Product Name set "
        "to Alibaba Cloud Model Studio. Up to 50 MB.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        style_widgets(self)

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > bills.MAX_BYTES:
            raise ValidationError(
                f"The file is larger than {bills.MAX_BYTES // (1024 * 1024)} MB: export a "
                "shorter period."
            )
        if upload.size == 0:
            raise ValidationError("The file is empty.")
        return upload


class ColumnMappingForm(forms.Form):
    """Which of the file's columns holds each of our fields (for headers we do not know)."""

    def __init__(self, *args, header: list[str], mapping: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", "— not in the file —"), *((h, h) for h in header if h)]
        for name, column in bills.COLUMNS.items():
            required = name in bills.REQUIRED or name in ("instance_id", "workspace_id")
            self.fields[name] = forms.ChoiceField(
                label=column.label + (" *" if name in bills.REQUIRED else ""),
                choices=choices,
                required=False,
                initial=mapping.get(name, ""),
                help_text=column.help,
            )
            self.fields[name].important = required
        style_widgets(self)
