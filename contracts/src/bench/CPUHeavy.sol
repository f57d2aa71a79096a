// SPDX-License-Identifier: MIT
pragma solidity =0.8.37;

/// @title CPUHeavy: BlockBench's CPU-bound micro-benchmark (Dinh et al., SIGMOD 2017).
/// @notice A call fills a memory array with `n` pseudo-random words (keccak256(seed, i)) and
/// quicksorts it: all computation and memory, no storage. `sorted` does the same work as a view
/// and returns the array, so a test can check the order and the contents against its own copy
/// of the inputs; `sort` emits the smallest, middle and largest element.
contract CPUHeavy {
    event Sorted(uint256 indexed seed, uint256 n, uint256 first, uint256 middle, uint256 last);

    function sort(uint256 n, uint256 seed) external {
        uint256[] memory data = _sorted(n, seed);
        if (n == 0) emit Sorted(seed, 0, 0, 0, 0);
        else emit Sorted(seed, n, data[0], data[n / 2], data[n - 1]);
    }

    function sorted(uint256 n, uint256 seed) external pure returns (uint256[] memory) {
        return _sorted(n, seed);
    }

    function _sorted(uint256 n, uint256 seed) private pure returns (uint256[] memory data) {
        data = new uint256[](n);
        for (uint256 i = 0; i < n; i++) data[i] = uint256(keccak256(abi.encodePacked(seed, i)));
        if (n > 1) _quickSort(data, 0, n - 1);
    }

    /// Hoare partition around the middle element, recursing into both halves (as BlockBench's
    /// Sorter does). Index arithmetic is unchecked: `lo <= i` and `j <= hi` hold throughout, and
    /// the loop stops before `j` would step below zero.
    function _quickSort(uint256[] memory a, uint256 lo, uint256 hi) private pure {
        uint256 i = lo;
        uint256 j = hi;
        unchecked {
            uint256 pivot = a[lo + (hi - lo) / 2];
            while (i <= j) {
                while (a[i] < pivot) i++;
                while (pivot < a[j]) j--;
                if (i <= j) {
                    (a[i], a[j]) = (a[j], a[i]);
                    i++;
                    if (j == 0) break;
                    j--;
                }
            }
        }
        if (lo < j) _quickSort(a, lo, j);
        if (i < hi) _quickSort(a, i, hi);
    }
}
