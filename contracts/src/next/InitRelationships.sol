// SPDX-License-Identifier: MIT
pragma solidity =0.8.37;

import {NextSystem, CloneArgs, INextRegistrar} from "./NextSystem.sol";

interface IInitialize {
    function initialize(address provider_, address patientSummary_, string calldata endpoint_) external;
}

/// @title Prototype design A0: the factory of plain PPR clones, initialised in the creating call.
/// @notice A plain clone's code says nothing about its parties, so this factory keeps the
/// registry of what it made (the creation time, as the live isRelationship mapping).
contract InitRelationships {
    mapping(address => uint256) private _createdAt;
    mapping(address => uint256) public bountyCount;

    event RelationshipCreated(address indexed patient, address indexed provider, address relationship);
    event BountyCreated(address indexed owner, address indexed relationship, uint256 indexed pointerId, uint256 index, string query);

    error NotProviderAccount(address caller);
    error PatientNotRegistered(address patient);
    error SelfRelationship(address patient);
    error NotRelationship(address caller);

    function create(address patient, string calldata endpoint, bytes32 salt) external returns (address relationship) {
        INextRegistrar registrar = INextRegistrar(NextSystem.REGISTRAR);
        if (!registrar.isProviderAccount(msg.sender)) revert NotProviderAccount(msg.sender);
        if (patient == msg.sender) revert SelfRelationship(patient);
        address summary = registrar.summaryOf(patient);
        if (summary == address(0)) revert PatientNotRegistered(patient);
        relationship = CloneArgs.createWithSalt(NextSystem.PPR_IMPLEMENTATION, "", _salt(msg.sender, patient, salt));
        IInitialize(relationship).initialize(msg.sender, summary, endpoint);
        _createdAt[relationship] = block.timestamp;
        emit RelationshipCreated(patient, msg.sender, relationship);
    }

    function recordBounty(uint256 pointerId, string calldata query) external returns (uint256 index) {
        if (_createdAt[msg.sender] == 0) revert NotRelationship(msg.sender);
        index = bountyCount[block.coinbase]++;
        emit BountyCreated(block.coinbase, msg.sender, pointerId, index, query);
    }

    function isRelationship(address relationship) external view returns (bool) {
        return _createdAt[relationship] != 0;
    }

    function createdAt(address relationship) external view returns (uint256) {
        return _createdAt[relationship];
    }

    function predictAddress(address provider, address patient, string calldata, bytes32 salt) external view returns (address) {
        return CloneArgs.predictWithSalt(NextSystem.PPR_IMPLEMENTATION, "", _salt(provider, patient, salt), address(this));
    }

    function _salt(address provider, address patient, bytes32 salt) private pure returns (bytes32) {
        return keccak256(abi.encode(provider, patient, salt));
    }
}
