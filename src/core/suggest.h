// "Did you mean ...?" for mistyped words (commands, keys), the way git and gh answer `git stauts`.
// Pure: no I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace bim {

// Edit distance between a and b counting insertions, deletions, substitutions and swaps of two
// neighbouring characters as one edit each (optimal string alignment distance). Case-sensitive.
size_t EditDistance(std::string_view a, std::string_view b);

// The candidate closest to `word`, or "" when none is close enough to be what was meant. A candidate
// is close enough when it is at most 2 edits away (1 for words of up to 3 characters), or when it
// starts with `word` and `word` has at least 3 characters ("stat" -> "status"). The fewest edits win;
// ties go to the candidate listed first.
std::string ClosestMatch(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace bim
