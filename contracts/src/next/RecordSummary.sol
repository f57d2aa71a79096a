// SPDX-License-Identifier: MIT
pragma solidity =0.8.37;

import {Role} from "../MedRecSystem.sol";
import {NextSystem} from "./NextSystem.sol";
import {SummaryCore} from "./SummaryCore.sol";

/// @title Prototype design B's Summary: only the one records contract links, naming the relationship id.
contract RecordSummary is SummaryCore {
    modifier onlyRecords() {
        if (msg.sender != NextSystem.RELATIONSHIPS) revert NotRelationship(msg.sender);
        _;
    }

    /// @param isPatientSide whether this Summary is the relationship's patient's (the records contract knows it).
    function addRelationship(address relationship, Role role, bool isPatientSide, address by) external onlyRecords returns (bool) {
        return _add(relationship, role, isPatientSide, by);
    }

    function relationshipUpdated(address relationship, address by) external onlyRecords returns (bool) {
        return _updated(relationship, by);
    }

    function relationshipTerminated(address relationship, address by) external onlyRecords {
        _terminated(relationship, by);
    }
}
