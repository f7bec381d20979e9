#include "cli/table.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace trellis::cli {
namespace {

bool IsContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

void AppendPadded(std::string& out, absl::string_view cell, size_t width, bool right) {
  size_t pad = width - std::min(width, DisplayWidth(cell));
  if (right) out.append(pad, ' ');
  absl::StrAppend(&out, cell);
  if (!right) out.append(pad, ' ');
}

void StripTrailingSpaces(std::string& line) {
  while (!line.empty() && line.back() == ' ') line.pop_back();
}

}  // namespace

size_t DisplayWidth(absl::string_view text) {
  size_t n = 0;
  for (char c : text) {
    if (!IsContinuationByte(c)) ++n;
  }
  return n;
}

std::string FitCell(absl::string_view text, size_t width) {
  std::string flat;
  flat.reserve(text.size());
  for (char c : text) flat += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  if (DisplayWidth(flat) <= width) return flat;
  size_t keep = width > 3 ? width - 3 : 0;
  std::string out;
  size_t columns = 0;
  for (size_t i = 0; i < flat.size(); ++i) {
    if (!IsContinuationByte(flat[i])) {
      if (columns == keep) break;
      ++columns;
    }
    out += flat[i];
  }
  return out + std::string(std::min<size_t>(3, width), '.');
}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

void Table::AlignRight(size_t column) {
  if (right_.size() <= column) right_.resize(column + 1, false);
  right_[column] = true;
}

std::string Table::Render(size_t max_cell_width) const {
  std::vector<std::vector<std::string>> cells;
  cells.push_back(headers_);
  for (const auto& row : rows_) {
    std::vector<std::string> fitted;
    fitted.reserve(row.size());
    for (const std::string& c : row) fitted.push_back(c.empty() ? "-" : FitCell(c, max_cell_width));
    cells.push_back(std::move(fitted));
  }
  std::vector<size_t> widths(headers_.size(), 0);
  for (const auto& row : cells) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], DisplayWidth(row[i]));
  }
  std::string out;
  for (const auto& row : cells) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      if (i > 0) line += "  ";
      bool right = i < right_.size() && right_[i];
      AppendPadded(line, row[i], widths[i], right);
    }
    StripTrailingSpaces(line);
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

std::string RenderKeyValues(const std::vector<std::pair<std::string, std::string>>& pairs) {
  size_t width = 0;
  for (const auto& [key, value] : pairs) width = std::max(width, DisplayWidth(key));
  std::string out;
  for (const auto& [key, value] : pairs) {
    std::string line = absl::StrCat(key, ":");
    line.append(width - DisplayWidth(key) + 1, ' ');
    absl::StrAppend(&line, value);
    StripTrailingSpaces(line);
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

}  // namespace trellis::cli
