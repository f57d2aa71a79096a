// SPDX-License-Identifier: MIT
pragma solidity =0.8.37;

import {NextSystem, CloneArgs, INextRegistrar} from "./NextSystem.sol";

/// @title Prototype design A: the Relationships factory making PPR clones, and the bounty ledger.
/// @notice `create` deploys an EIP-1167 clone of the one PPR implementation with CREATE2; the
/// clone's code fixes its provider, its patient's Summary, the provider's salt and its first
/// endpoint, so there is no initialiser for anyone (this factory included) to call, once or
/// twice. Creating writes no storage: a relationship is an address whose code this factory put
/// there (`isRelationship` recomputes the CREATE2 address from the code), the creation time is
/// the RelationshipCreated event's block. Bounties are events with a per-owner count: storing
/// each bounty's query cost the first pointer more than the pointer itself.
contract CloneRelationships {
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
        relationship = CloneArgs.create(NextSystem.PPR_IMPLEMENTATION, abi.encodePacked(msg.sender, summary, salt, endpoint));
        emit RelationshipCreated(patient, msg.sender, relationship);
    }

    function recordBounty(uint256 pointerId, string calldata query) external returns (uint256 index) {
        if (!CloneArgs.isCloneBy(msg.sender, address(this))) revert NotRelationship(msg.sender);
        index = bountyCount[block.coinbase]++;
        emit BountyCreated(block.coinbase, msg.sender, pointerId, index, query);
    }

    function isRelationship(address relationship) external view returns (bool) {
        return CloneArgs.isCloneBy(relationship, address(this));
    }

    function predictAddress(address provider, address patient, string calldata endpoint, bytes32 salt) external view returns (address) {
        address summary = INextRegistrar(NextSystem.REGISTRAR).summaryOf(patient);
        if (summary == address(0)) revert PatientNotRegistered(patient);
        return CloneArgs.predict(NextSystem.PPR_IMPLEMENTATION, abi.encodePacked(provider, summary, salt, endpoint), address(this));
    }
}
