#pragma once

// Column-aligned text for `--output table`: a table of rows, and "key: value" lines for one
// resource. Pure formatting; widths count UTF-8 code points (no wide glyphs in our output).

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace trellis::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

  // Cells beyond the headers are dropped; missing ones are empty.
  void AddRow(std::vector<std::string> cells);
  // Numbers read better right-aligned.
  void AlignRight(size_t column);
  size_t rows() const { return rows_.size(); }

  // The header line and one line per row, columns two spaces apart, no trailing spaces. A cell is
  // one line (newlines and tabs become spaces) cut to `max_cell_width` with "...". Empty cells
  // show as "-" so columns stay readable for `awk`.
  std::string Render(size_t max_cell_width = 60) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<bool> right_;
};

// "key: value" lines, values aligned after the longest key, one line per pair.
std::string RenderKeyValues(const std::vector<std::pair<std::string, std::string>>& pairs);

// Terminal columns of UTF-8 text (code points).
size_t DisplayWidth(absl::string_view text);

// `text` on one line, cut to at most `width` columns with "..." when longer.
std::string FitCell(absl::string_view text, size_t width);

}  // namespace trellis::cli
