"""Writing data frames as sheets of an XLSX workbook (openpyxl), shared by every output.

A sheet holds an optional bold note on its first row, the bold header two rows below (or on
the first row without note), then the rows; missing values (NaN, ``pd.NA``, None) are empty
cells, numpy scalars are written as Python numbers; panes are frozen under the header.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _cell_value(value: object) -> object:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        value = value.item()
        if isinstance(value, float) and np.isnan(value):
            return None
    return value


def add_sheet(workbook, title: str, frame: pd.DataFrame, note: str | None = None) -> None:
    """Append ``frame`` as the sheet ``title`` (at most 31 characters) of ``workbook``."""
    from openpyxl.styles import Font

    bold = Font(bold=True)
    ws = workbook.create_sheet(title[:31])
    row = 1
    if note:
        ws.cell(row=1, column=1, value=note).font = bold
        row = 3
    for col, name in enumerate(frame.columns, start=1):
        ws.cell(row=row, column=col, value=str(name)).font = bold
    header = row
    for values in frame.itertuples(index=False):
        row += 1
        for col, value in enumerate(values, start=1):
            ws.cell(row=row, column=col, value=_cell_value(value))
    ws.freeze_panes = ws.cell(row=header + 1, column=1)
